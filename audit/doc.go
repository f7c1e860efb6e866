// Package audit records who changed what, when, from where and how, and
// delivers those events to kansa without writing to the application's
// database or making a request wait.
//
// # The model: context in, events out
//
// A request or job carries a Scope in its context.Context: the actor, the
// client IP, user agent, request id, endpoint, host, the caller of a job and
// a trace id. Middleware sets it for net/http servers; Job, WithActor and
// WithCaller set it for batch jobs and goroutines; SetActor changes it in
// place when a login makes the actor known. Code deep in the request records
// an event with only the context:
//
//	auditLog.Record(ctx, audit.Event{Action: audit.ActionSecretView, Target: audit.Target{Type: "ApiKey", ID: "7"}})
//
// and the event carries the whole scope. Record changes with
// Event.Changes ({column: [old, new]}); the GORM adapter
// (github.com/kansa-audit/kansa/audit/gormaudit) does that for every
// create, update and delete after commit.
//
// # Recording never waits
//
// Record copies the event into a bounded queue and returns: no network, no
// disk, no lock held by anything slow. A goroutine of the Logger encodes the
// events as kansa's JSON lines (schema kansa.audit/v1) and hands them to an
// Output:
//
//   - Stdout or OpenFile: JSON lines for kansa route or any log router.
//   - NewClient: straight to kansa serve, through a spool on local disk.
//   - NewSlogOutput: through a slog.Handler the application already has.
//
// If the queue is full (the Output is slower than the application for
// longer than the queue lasts) or the spool is at its limit, the event is
// dropped — counted in Stats and logged, never silently.
//
// # When an event is durable
//
// An event is durable once its Output has synced it: a Client's spool
// fsync'd (or kansa acknowledged it, which kansa does only once the event is
// fsync'd on its side), a file fsync'd, stdout written. The Logger syncs
// every Config.SyncInterval (200 ms by default); Flush waits until every
// event recorded before it is durable. Call Close at shutdown: it flushes,
// and a Client then delivers what it can in the time ctx allows; the rest
// stays in the spool and is sent by the next process that opens it.
//
// # Nothing lost unseen
//
// Each Logger is one seq stream: every event gets the next number of the
// stream when it is recorded, and heartbeats (action kansa.heartbeat)
// repeat the stream's last number every Config.HeartbeatInterval and at
// Close. A gap in the numbers, or a stream whose events stop short of its
// last heartbeat, shows a loss downstream, wherever it happened.
package audit
