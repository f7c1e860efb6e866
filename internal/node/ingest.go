package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/metrics"
	"github.com/kansa-audit/kansa/internal/objstore"
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

// ErrDropped is returned when records were dropped under the drop policy,
// wrapped in a *DroppedError that says how many.
var ErrDropped = errors.New("WAL full: records dropped (when_full: drop)")

// DroppedError says how many of the records given to Append were dropped
// (a group appended in halves may lose only some).
type DroppedError struct{ N int }

func (e *DroppedError) Error() string { return fmt.Sprintf("%v: %d records", ErrDropped, e.N) }
func (e *DroppedError) Unwrap() error { return ErrDropped }

// Dropped returns how many records err says were dropped.
func Dropped(err error) int {
	var d *DroppedError
	if errors.As(err, &d) {
		return d.N
	}
	return 0
}

// Ingester is the front door every input uses to make records durable. It
// is safe for concurrent use.
type Ingester struct {
	n         *Node
	accepted  *metrics.Counter
	dropped   *metrics.Counter
	refused   *metrics.Counter
	mu        sync.Mutex
	errCounts map[string]*metrics.Counter

	// Records dropped under when_full: drop and not yet recorded in the
	// error output, by source, tenant and day (UTC, of the records' own
	// times); written there as one "dropped" record each, stamped with the
	// first dropped record's time, once the WAL takes records again
	// (flushDrops).
	dropMu   sync.Mutex
	drops    map[[3]string]*dropCount
	hasDrops atomic.Bool
}

type dropCount struct {
	N           int
	First, Last int64 // µs, the records' own times
}

// droppedFile keeps drop counts not yet recorded across a restart.
const droppedFile = "dropped.json"

type savedDrop struct {
	Source string `json:"source"`
	Tenant string `json:"tenant"`
	N      int    `json:"n"`
	First  int64  `json:"first_us"`
	Last   int64  `json:"last_us"`
}

// loadDrops takes back the counts a previous run could not record.
func (in *Ingester) loadDrops() error {
	data, err := os.ReadFile(filepath.Join(in.n.Dir, droppedFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var saved []savedDrop
	if err := json.Unmarshal(data, &saved); err != nil {
		return fmt.Errorf("%s: %w", droppedFile, err)
	}
	in.dropMu.Lock()
	defer in.dropMu.Unlock()
	in.drops = map[[3]string]*dropCount{}
	for _, d := range saved {
		in.drops[dropKey(d.Source, d.Tenant, d.First)] = &dropCount{N: d.N, First: d.First, Last: d.Last}
	}
	in.hasDrops.Store(len(saved) > 0)
	return nil
}

// saveDrops keeps the counts not yet recorded for the next run.
func (in *Ingester) saveDrops() error {
	in.dropMu.Lock()
	defer in.dropMu.Unlock()
	var saved []savedDrop
	for k, d := range in.drops {
		saved = append(saved, savedDrop{k[0], k[1], d.N, d.First, d.Last})
	}
	data, _ := json.Marshal(saved)
	return objstore.WriteFile(filepath.Join(in.n.Dir, droppedFile), data)
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
			_, err1 := in.Append(ctx, recs[:h], policy)
			if err1 != nil && !errors.Is(err1, ErrDropped) {
				return 0, err1
			}
			last, err2 := in.Append(ctx, recs[h:], policy)
			if err2 != nil && !errors.Is(err2, ErrDropped) {
				return 0, err2
			}
			if n := Dropped(err1) + Dropped(err2); n > 0 {
				return last, &DroppedError{n}
			}
			return last, nil
		}
		if !errors.Is(err, wal.ErrFull) {
			if err == nil && in.hasDrops.Load() {
				in.flushDrops()
			}
			return last, err
		}
		switch policy {
		case Refuse:
			in.refused.Add(uint64(len(recs)))
			return 0, err
		case Drop:
			in.dropped.Add(uint64(len(recs)))
			in.countDrops(recs)
			return 0, &DroppedError{len(recs)}
		}
		if err := in.n.WAL.WaitSpace(ctx); err != nil {
			return 0, err
		}
	}
}

func dropKey(source, tenant string, us int64) [3]string {
	return [3]string{source, tenant, time.UnixMicro(us).UTC().Format(time.DateOnly)}
}

func (in *Ingester) countDrops(recs [][]byte) {
	in.dropMu.Lock()
	defer in.dropMu.Unlock()
	if in.drops == nil {
		in.drops = map[[3]string]*dropCount{}
	}
	for _, rec := range recs {
		e, err := record.ParseEntry(rec)
		if err != nil {
			continue
		}
		k := dropKey(string(e.Source), string(e.Tenant), e.Time)
		d := in.drops[k]
		if d == nil {
			d = &dropCount{First: e.Time, Last: e.Time}
			in.drops[k] = d
		}
		d.N++
		d.First, d.Last = min(d.First, e.Time), max(d.Last, e.Time)
	}
	in.hasDrops.Store(true)
}

// flushDrops writes one "dropped" record per source and tenant for what
// was dropped, into the error output (archive.DroppedType), so the archive
// itself says what it lacks and kansa reconcile counts it. The records are
// made durable with the next sync; what does not fit stays counted for the
// next try. It reports whether nothing is left to write.
func (in *Ingester) flushDrops() bool {
	in.dropMu.Lock()
	defer in.dropMu.Unlock()
	now := time.Now()
	for k, d := range in.drops {
		rec := record.AppendEntry(nil, record.TypeReject, time.UnixMicro(d.First), k[1], k[0], "", 0, nil)
		rec = append(rec, `{"error_type":"`+archive.DroppedType+`","error":`...)
		rec = rawjson.AppendQuote(rec, fmt.Sprintf("%d audit records dropped: the WAL was full (wal.when_full: drop)", d.N))
		rec = append(rec, `,"source":`...)
		rec = rawjson.AppendQuote(rec, k[0])
		rec = append(rec, `,"tenant":`...)
		rec = rawjson.AppendQuote(rec, k[1])
		rec = append(rec, `,"received_at":"`...)
		rec = event.AppendTime(rec, now)
		rec = fmt.Appendf(rec, `","count":%d,"first_time":"`, d.N)
		rec = event.AppendTime(rec, time.UnixMicro(d.First))
		rec = append(rec, `","last_time":"`...)
		rec = event.AppendTime(rec, time.UnixMicro(d.Last))
		rec = append(rec, `"}`...)
		if _, _, err := in.n.WAL.Append([][]byte{rec}); err != nil {
			return false
		}
		delete(in.drops, k)
	}
	in.hasDrops.Store(false)
	os.Remove(filepath.Join(in.n.Dir, droppedFile))
	return true
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
