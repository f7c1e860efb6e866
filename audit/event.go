package audit

import "time"

// Schema marks a JSON line as a kansa event and versions its shape.
const Schema = "kansa.audit/v1"

// Actions kansa and its adapters use. Any dotted verb is allowed besides
// these ("invoice.send", "role.grant").
const (
	ActionCreate         = "create"
	ActionUpdate         = "update"
	ActionDelete         = "delete"
	ActionLogin          = "user.login"
	ActionLogout         = "user.logout"
	ActionSecretView     = "secret.view"
	ActionExportDownload = "export.download"

	// ActionHeartbeat marks a stream heartbeat. A heartbeat repeats its
	// stream's last number in seq.n; it is not itself numbered.
	ActionHeartbeat = "kansa.heartbeat"
)

// Outcome says whether the action succeeded.
type Outcome uint8

const (
	Success Outcome = iota // the default; not written
	Failure                // written as "outcome":"failure"; say why in Event.Error
)

// Actor is who did it: a user, an admin account, a service, a database role.
// The zero Actor means none (a system change) and is not written.
type Actor struct {
	Type string // "User", "Admin::Account", "service"
	ID   string
	Name string // optional display name
}

// IsZero reports whether a is the zero Actor.
func (a Actor) IsZero() bool { return a.Type == "" && a.ID == "" && a.Name == "" }

// Target is what it was done to.
type Target struct {
	Type   string // "Order"
	ID     string // the primary key, as text; "" for rows not known one by one
	Schema string // optional: database schema
	Table  string // optional: database table
}

// IsZero reports whether t is the zero Target.
func (t Target) IsZero() bool { return t == Target{} }

// Change is one column of Event.Changes. With HasOld it is written as
// {"column": [old, new]} (an update); without, as {"column": new} (the
// value of a created or deleted record, or a new value whose old one is not
// known).
//
// Values are written as JSON: nil, bool, strings, all integer and float
// kinds, time.Time (RFC 3339), []byte (base64), json.RawMessage (as is),
// driver.Valuer (its value), Redacted, and anything else through
// encoding/json.
type Change struct {
	Column string
	Old    any
	New    any
	HasOld bool
}

// Diff returns the change of column from old to new.
func Diff(column string, old, new any) Change {
	return Change{Column: column, Old: old, New: new, HasOld: true}
}

// Value returns column's value in a created or deleted record.
func Value(column string, v any) Change { return Change{Column: column, New: v} }

// Redacted stands for a value that changed but must not be recorded
// (a password digest, a token). It is written as "[REDACTED]".
var Redacted = redacted{}

type redacted struct{}

func (redacted) MarshalJSON() ([]byte, error) { return []byte(`"[REDACTED]"`), nil }

// A ChangeSet yields an event's changes late, on the Logger's goroutine.
// It must not depend on anything the application may change after Record:
// read from copies that nothing else writes.
type ChangeSet interface {
	EachChange(yield func(Change))
}

// Event is one audit event as the application records it. Everything about
// where and how it happened (actor, IP, endpoint, request id…) comes from the
// context passed to Logger.Record; fields set here win over the context.
//
// The Logger reads the event during Record and keeps its own copy of the
// struct, but not of Changes and Meta: do not modify them after Record.
type Event struct {
	Action  string // required: create, update, delete, or a dotted verb
	Actor   Actor  // zero: the context's actor
	Target  Target
	Changes []Change
	// ChangeSet, when set, supplies more changes when the event is encoded
	// on the Logger's goroutine rather than during Record: an adapter
	// reading values from an immutable snapshot avoids boxing each one on
	// the request path. Its changes follow Changes.
	ChangeSet ChangeSet
	Outcome   Outcome
	Error     string         // why it failed; written as meta.error
	Meta      map[string]any // anything else; written with encoding/json
	Time      time.Time      // zero: now
	ID        string         // zero: a new UUIDv7; set it to make retries idempotent
}
