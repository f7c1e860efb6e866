package cloudtrail

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/kansa-audit/kansa/internal/input"
	"github.com/kansa-audit/kansa/internal/mapping"
)

// ledgerTTL is how long the queue input remembers a file it read. A
// message comes back within its visibility timeout (a crash, a failed
// delete), or is a second notification of the same file soon after; a
// file read again later keeps its events' ids, and readers see each once.
const ledgerTTL = 2 * 24 * time.Hour

// runQueue receives notifications until ctx ends. A message is deleted
// only once the records of every file it names are durable (or it is
// given up, and its dead-letter record is durable).
func (in *Input) runQueue(ctx context.Context) error {
	in.log.Info("reading CloudTrail notifications", "queue", in.cfg.QueueURL)
	for {
		msgs, err := in.q.receive(ctx, 10, in.cfg.Wait, in.cfg.VisibilityTimeout)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if err := in.handle(ctx, msgs); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// handle reads the files of one receive's messages, makes their records
// durable, notes them in the ledger, and deletes the messages.
func (in *Input) handle(ctx context.Context, msgs []message) error {
	if len(msgs) == 0 {
		return nil
	}
	var (
		r    round
		done []message // to delete
		dead []message // to give up
	)
	in.countReceives(msgs)
	// What each message names; then every file to read, fetched together.
	named := make([][]Object, len(msgs))
	given := make([]bool, len(msgs)) // up already: not a notification
	var all []Object
	for i, m := range msgs {
		objs, err := Objects([]byte(m.Body))
		if err != nil {
			// A message of no known shape will not get better.
			in.log.Warn("not a notification; giving it up", "message", m.ID, "err", err)
			dead = append(dead, m)
			r.bad = append(r.bad, deadLetter(m, err))
			given[i] = true
			continue
		}
		if b := in.foreignBucket(objs); b != "" {
			err := fmt.Errorf("names bucket %q, which is not one of buckets %v", b, in.cfg.Buckets)
			in.log.Warn("a notification of another bucket; giving it up", "message", m.ID, "err", err)
			dead = append(dead, m)
			r.bad = append(r.bad, deadLetter(m, err))
			given[i] = true
			continue
		}
		named[i] = objs
		all = append(all, objs...)
	}
	all = in.todo(all)
	outcome := map[Object]error{} // of each file read in this round: nil, or why it could not be fetched
	for len(all) > 0 {
		// A window of files fetched together (bounded memory), then read
		// in order.
		window := all[:min(len(all), 4*in.cfg.Fetchers)]
		all = all[len(window):]
		for i, f := range in.fetch(ctx, window) {
			unreadable, err := in.read(ctx, window[i], f, &r)
			if err != nil {
				return err
			}
			outcome[window[i]] = unreadable
		}
	}
	for i, m := range msgs {
		if given[i] {
			continue
		}
		var failed error
		for _, o := range named[i] {
			failed = cmp.Or(outcome[o], failed)
		}
		switch {
		case failed == nil:
			done = append(done, m)
		case m.Receives >= in.cfg.MaxReceives:
			in.log.Warn("a file cannot be read; giving the message up", "message", m.ID, "receives", m.Receives, "err", failed)
			dead = append(dead, m)
			r.bad = append(r.bad, deadLetter(m, failed))
		default:
			in.log.Warn("a file cannot be read; the message comes back after its visibility timeout",
				"message", m.ID, "receives", m.Receives, "max_receives", in.cfg.MaxReceives, "err", failed)
		}
	}
	err := in.commit(ctx, &r, false, func(_ string, at int64) bool {
		return time.Since(time.Unix(at, 0)) > ledgerTTL
	})
	if err != nil {
		return err
	}
	for _, m := range dead {
		if in.dlq != nil {
			// Its dead_letter record is durable: the message goes either way.
			if err := in.dlq.send(ctx, m.Body); err != nil {
				in.log.Warn("sending a message given up to the dead-letter queue", "message", m.ID, "err", err)
			}
		}
	}
	// A message not deleted comes back, and the ledger skips what it names.
	gone := append(done, dead...)
	if len(gone) == 0 {
		return nil
	}
	failed, err := in.q.remove(ctx, gone)
	if err != nil {
		in.log.Warn("deleting messages", "messages", len(gone), "err", err)
		return nil
	}
	for i, m := range gone {
		if err := failed[i]; err != nil {
			in.log.Warn("deleting a message", "message", m.ID, "err", err)
			continue
		}
		delete(in.receives, m.ID)
	}
	return nil
}

// foreignBucket returns a bucket of objs that Buckets does not list, or "".
func (in *Input) foreignBucket(objs []Object) string {
	if len(in.cfg.Buckets) == 0 {
		return ""
	}
	for _, o := range objs {
		if !slices.Contains(in.cfg.Buckets, o.Bucket) {
			return o.Bucket
		}
	}
	return ""
}

// countReceives sets each message's Receives to the larger of SQS's
// count (ApproximateReceiveCount) and this process's own: some
// SQS-compatible servers do not count. Counts of messages not seen for a
// day (deleted by another receiver) are dropped.
func (in *Input) countReceives(msgs []message) {
	now := time.Now()
	if in.receives == nil {
		in.receives = map[string]receipts{}
	}
	for i := range msgs {
		r := in.receives[msgs[i].ID]
		r.n, r.last = r.n+1, now
		in.receives[msgs[i].ID] = r
		msgs[i].Receives = max(msgs[i].Receives, r.n)
	}
	if len(in.receives) > 1000 {
		for id, r := range in.receives {
			if now.Sub(r.last) > 24*time.Hour {
				delete(in.receives, id)
			}
		}
	}
}

// receipts counts a message's receives by this process.
type receipts struct {
	n    int
	last time.Time
}

// deadLetter is the error-output record of a message given up.
func deadLetter(m message, err error) input.Bad {
	return input.Bad{
		Err:  &mapping.Error{Type: "dead_letter", Err: fmt.Errorf("SQS message %s given up after %d receives: %w", m.ID, m.Receives, err)},
		Line: []byte(m.Body),
	}
}
