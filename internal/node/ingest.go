package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/metrics"
	"github.com/kansa-audit/kansa/internal/rawjson"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/wal"
)

// FullPolicy is what Append does when the WAL is at its size limit.
type FullPolicy int

const (
	Refuse FullPolicy = iota // return wal.ErrFull at once (HTTP answers 503)
	Block                    // wait until the sink frees space
	Drop                     // count the records as dropped and return ErrDropped
)

// ErrDropped is returned when records were dropped under the drop policy.
var ErrDropped = errors.New("WAL full: records dropped (when_full: drop)")

// Ingester is the front door every input uses to make records durable. It
// is safe for concurrent use.
type Ingester struct {
	n         *Node
	accepted  *metrics.Counter
	dropped   *metrics.Counter
	refused   *metrics.Counter
	mu        sync.Mutex
	errCounts map[string]*metrics.Counter
}

func newIngester(n *Node) *Ingester {
	in := &Ingester{n: n, errCounts: map[string]*metrics.Counter{},
		accepted: n.Metrics.Counter("kansa_accepted_total", "Events made durable in the WAL."),
		dropped:  n.Metrics.Counter("kansa_dropped_total", "Audit records dropped because the WAL was full (when_full: drop)."),
		refused:  n.Metrics.Counter("kansa_refused_total", "Records refused with 503 because the WAL was full."),
	}
	for _, t := range []string{"decode", "map", "invalid", "too_large"} {
		in.errorCounter(t)
	}
	return in
}

func (in *Ingester) errorCounter(typ string) *metrics.Counter {
	in.mu.Lock()
	defer in.mu.Unlock()
	c := in.errCounts[typ]
	if c == nil {
		c = in.n.Metrics.Counter("kansa_errors_total", "Records sent to the error output, by error type.", "type", typ)
		in.errCounts[typ] = c
	}
	return c
}

// Append appends recs under policy and returns the index of the last. The
// records go in as one group unless the group could never fit in the WAL's
// size limit, in which case they go in halves (in order). They are not
// durable until Sync(last) returns.
func (in *Ingester) Append(ctx context.Context, recs [][]byte, policy FullPolicy) (uint64, error) {
	for {
		_, last, err := in.n.WAL.Append(recs)
		if errors.Is(err, wal.ErrTooLarge) && len(recs) > 1 {
			// A group that could never fit in the WAL's limit goes in halves;
			// only a single record too large for the limit is an error.
			h := len(recs) / 2
			if _, err := in.Append(ctx, recs[:h], policy); err != nil && !errors.Is(err, ErrDropped) {
				return 0, err
			}
			return in.Append(ctx, recs[h:], policy)
		}
		if !errors.Is(err, wal.ErrFull) {
			return last, err
		}
		switch policy {
		case Refuse:
			in.refused.Add(uint64(len(recs)))
			return 0, err
		case Drop:
			in.dropped.Add(uint64(len(recs)))
			return 0, ErrDropped
		}
		if err := in.n.WAL.WaitSpace(ctx); err != nil {
			return 0, err
		}
	}
}

// Sync waits until every record up to last is fsync'd, then counts the
// events among them as accepted.
func (in *Ingester) Sync(ctx context.Context, last uint64, events int) error {
	if err := in.n.WAL.Sync(ctx, last); err != nil {
		return err
	}
	in.accepted.Add(uint64(events))
	return nil
}

// Accepted counts events appended by an input that syncs in bulk (route)
// rather than per request.
func (in *Ingester) Accepted(events int) { in.accepted.Add(uint64(events)) }

// AppendEvent appends e as an Event record to dst. received is stamped as
// received_at.
func AppendEvent(dst []byte, e *event.Event, received time.Time) []byte {
	e.ReceivedAt = received
	var stream string
	var n uint64
	if e.Seq != nil {
		stream, n = e.Seq.Stream, e.Seq.N
	}
	dst = record.AppendEntry(dst, record.TypeEvent, e.Time, e.Tenant, e.Source, stream, n, nil)
	return e.AppendJSON(dst)
}

// AppendReject appends a Reject record for a line that could not become an
// event, and counts it. The record's body is the line of the error output:
// {"error_type","error","source","tenant","received_at","line"}.
func (in *Ingester) AppendReject(dst []byte, err error, line []byte, source, tenant string, received time.Time) []byte {
	typ := mapping.ErrorType(err)
	in.errorCounter(typ).Inc()
	if tenant == "" {
		tenant = event.DefaultTenant
	}
	dst = record.AppendEntry(dst, record.TypeReject, received, tenant, source, "", 0, nil)
	dst = append(dst, `{"error_type":`...)
	dst = rawjson.AppendQuote(dst, typ)
	dst = append(dst, `,"error":`...)
	dst = rawjson.AppendQuote(dst, err.Error())
	dst = append(dst, `,"source":`...)
	dst = rawjson.AppendQuote(dst, source)
	dst = append(dst, `,"tenant":`...)
	dst = rawjson.AppendQuote(dst, tenant)
	dst = append(dst, `,"received_at":"`...)
	dst = event.AppendTime(dst, received)
	dst = append(dst, `","line":`...)
	dst = rawjson.AppendQuote(dst, line)
	return append(dst, '}')
}
