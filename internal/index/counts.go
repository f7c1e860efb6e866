package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/kansa-audit/kansa/internal/event"
)

// Dashboards count events by one dimension per day. Counters are kept as
// batches are added, under
//
//	c <tenant> 0 <day:4> <dim> <value> → count (8 bytes, summed by merging)
//
// so a 90-day chart reads a few thousand keys, not every event. An event
// added again with Add is counted again (counts are what arrived); a
// batch added again by WAL index (AddWAL after a crash between indexing
// and checkpointing) is not, since its seqs are not new.
const kindCount = 'c'

// Dim is what events are counted by.
type Dim byte

const (
	ByAction    Dim = 'a'
	BySource    Dim = 's'
	ByUserAgent Dim = 'u'
	ByActor     Dim = 'o' // TYPE:ID
	ByOutcome   Dim = 'r'
)

// Dims names the dimensions, for flags and errors.
var Dims = map[string]Dim{"action": ByAction, "source": BySource, "user_agent": ByUserAgent, "actor": ByActor, "outcome": ByOutcome}

var allDims = [...]Dim{ByAction, BySource, ByUserAgent, ByActor, ByOutcome}

// epochDay is the day of t in UTC, counted from 1970-01-01, offset so that
// it sorts as an unsigned number.
func epochDay(t time.Time) uint32 {
	return uint32(t.UTC().Unix()/86400) ^ 1<<31
}

func dayTime(d uint32) time.Time { return time.Unix(int64(int32(d^1<<31))*86400, 0).UTC() }

func countKey(dst []byte, tenant string, day uint32, d Dim, v string) []byte {
	dst = postingPrefix(dst, kindCount, tenant)
	dst = binary.BigEndian.AppendUint32(dst, day)
	dst = append(dst, byte(d))
	return append(dst, v...)
}

// counter sums big-endian uint64 operands.
var counter = &pebble.Merger{
	Name: "kansa.count.v1",
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		m := &sum{}
		return m, m.MergeNewer(value)
	},
}

type sum struct{ n uint64 }

func (s *sum) MergeNewer(v []byte) error {
	if len(v) != 8 {
		return fmt.Errorf("index: counter of %d bytes", len(v))
	}
	s.n += binary.BigEndian.Uint64(v)
	return nil
}
func (s *sum) MergeOlder(v []byte) error { return s.MergeNewer(v) }
func (s *sum) Finish(bool) ([]byte, io.Closer, error) {
	return binary.BigEndian.AppendUint64(nil, s.n), nil, nil
}

// counts accumulates counters before they are written. They are kept per
// tenant and day, one map per dimension from value to count, so that an
// event costs one lookup of a short value per dimension; events come
// mostly in time order, so the tenant and day of the last event are
// remembered.
type counts struct {
	// actorsFromPostings leaves out the actor counters that a Builder
	// derives from its sorted actor postings (actorDays).
	actorsFromPostings bool

	days    map[tenantDay]*dayCounts
	last    *dayCounts
	lastKey tenantDay
	n       int    // counters held
	scratch []byte // a value being looked up
}

type tenantDay struct {
	tenant string
	day    uint32
}

// dayCounts numbers each dimension's values; the counts are in n.
type dayCounts struct {
	tenant string // the map's copy: the caller's may point into a buffer it reuses
	at     [len(allDims)]map[string]int32
	n      []uint64
}

func (c *counts) add(tenant string, e *event.Event) {
	k := tenantDay{tenant, epochDay(e.Time)}
	d := c.last
	if d == nil || k != c.lastKey {
		if d = c.days[k]; d == nil {
			d = new(dayCounts)
			for i := range d.at {
				d.at[i] = map[string]int32{}
			}
			if c.days == nil {
				c.days = map[tenantDay]*dayCounts{}
			}
			d.tenant = strings.Clone(k.tenant)
			c.days[tenantDay{d.tenant, k.day}] = d
		}
		c.last, c.lastKey = d, tenantDay{d.tenant, k.day}
	}
	for i, dim := range allDims {
		if dim != ByActor { // a field's own string, looked up as it is
			v := dimString(dim, e)
			if v == "" {
				continue
			}
			if j, ok := d.at[i][v]; ok {
				d.n[j]++
			} else {
				c.insert(d, i, strings.Clone(v)) // v points into the line
			}
			continue
		}
		// Actors as TYPE:ID, as event.Ref writes them.
		if e.Actor == nil || c.actorsFromPostings && actorDerived(tenant, e.Actor) {
			continue
		}
		c.scratch = event.Ref{Type: e.Actor.Type, ID: e.Actor.ID}.Append(c.scratch[:0])
		if j, ok := d.at[i][string(c.scratch)]; ok {
			d.n[j]++
		} else {
			c.insert(d, i, string(c.scratch))
		}
	}
}

// insert starts the counter of value v of dimension i at 1.
func (c *counts) insert(d *dayCounts, i int, v string) {
	d.at[i][v] = int32(len(d.n))
	d.n = append(d.n, 1)
	c.n++
}

// dimString is e's value of d for the dimensions that are one string
// field (all but ByActor).
func dimString(d Dim, e *event.Event) string {
	switch d {
	case ByAction:
		return e.Action
	case BySource:
		return e.Source
	case ByUserAgent:
		return e.Context.UserAgent
	case ByOutcome:
		return e.Outcome
	}
	return ""
}

// each calls fn with every counter's key and count, in no order; the key
// is valid during the call.
func (c *counts) each(fn func(key []byte, n uint64) error) error {
	var key []byte
	for k, d := range c.days {
		for i, m := range d.at {
			for v, j := range m {
				key = countKey(key[:0], k.tenant, k.day, allDims[i], v)
				if err := fn(key, d.n[j]); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (c *counts) reset() {
	clear(c.days)
	c.last, c.n = nil, 0
}

func (c *counts) write(b *pebble.Batch) error {
	return c.each(func(key []byte, n uint64) error {
		return b.Merge(key, binary.BigEndian.AppendUint64(nil, n), nil)
	})
}

// Count is the number of events with one value of a dimension on one day.
type Count struct {
	Day   time.Time // midnight UTC
	Value string
	N     uint64
}

// Counts returns the events of tenant ("" for every tenant) counted by
// dim per UTC day, for the days from since to until (inclusive of both
// days; zero times for no bound), ordered by day and value. Counts of
// several tenants are summed.
func (x *Index) Counts(ctx context.Context, tenant string, dim Dim, since, until time.Time) ([]Count, error) {
	if !slices.Contains(allDims[:], dim) {
		return nil, errors.New("index: unknown dimension")
	}
	tenants := []string{tenant}
	if tenant == "" {
		var err error
		if tenants, err = x.Tenants(); err != nil {
			return nil, err
		}
	}
	type k struct {
		day   uint32
		value string
	}
	sums := map[k]uint64{}
	for _, t := range tenants {
		prefix := postingPrefix(nil, kindCount, t)
		lo, hi := uint32(0), ^uint32(0)
		if !since.IsZero() {
			lo = epochDay(since)
		}
		if !until.IsZero() {
			hi = epochDay(until)
		}
		it, err := x.db.NewIter(&pebble.IterOptions{
			LowerBound: binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), lo),
			UpperBound: append(binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), hi), 0xff),
		})
		if err != nil {
			return nil, err
		}
		// Days hold every dimension's counters; seek to dim's in each day
		// rather than read the others (by actor, a day has one per
		// active actor).
		seek := func(day uint32) bool {
			return it.SeekGE(append(binary.BigEndian.AppendUint32(append([]byte(nil), prefix...), day), byte(dim)))
		}
		ok := seek(lo)
		for ok {
			if err := ctx.Err(); err != nil {
				it.Close()
				return nil, err
			}
			key := it.Key()[len(prefix):]
			if len(key) < 5 {
				ok = it.Next()
				continue
			}
			day := binary.BigEndian.Uint32(key)
			switch d := Dim(key[4]); {
			case d < dim:
				ok = seek(day)
				continue
			case d > dim:
				if day == ^uint32(0) {
					ok = false
				} else {
					ok = seek(day + 1)
				}
				continue
			}
			v, err := it.ValueAndErr()
			if err != nil || len(v) != 8 {
				it.Close()
				return nil, fmt.Errorf("index: counter %q: %v", it.Key(), err)
			}
			sums[k{day, string(key[5:])}] += binary.BigEndian.Uint64(v)
			ok = it.Next()
		}
		if err := it.Close(); err != nil {
			return nil, err
		}
	}
	out := make([]Count, 0, len(sums))
	for kk, n := range sums {
		out = append(out, Count{Day: dayTime(kk.day), Value: kk.value, N: n})
	}
	slices.SortFunc(out, func(a, b Count) int {
		if c := a.Day.Compare(b.Day); c != 0 {
			return c
		}
		if a.Value < b.Value {
			return -1
		}
		if a.Value > b.Value {
			return 1
		}
		return 0
	})
	return out, nil
}

// A Builder counts events by actor from the actor postings it has sorted
// for a spill, where each actor's events are together and in time order,
// rather than through counts, where the actors (most of the counters)
// were a map lookup and an insert per event. A posting is
//
//	kindActor <tenant> 0 <type> 0 <id> 0 <time:8> <seq:8>
//
// so its prefix names the counter's tenant and value and its time the
// day, provided none of the three holds a zero byte: actorDerived says
// which events it counts, and counts.add counts the others.
func actorDerived(tenant string, a *event.Actor) bool {
	return a != nil && a.ID != "" && strings.IndexByte(tenant, 0) < 0 &&
		strings.IndexByte(a.Type, 0) < 0 && strings.IndexByte(a.ID, 0) < 0
}

// actorDays counts sorted actor postings by actor and day and gives each
// count to emit as a counter (key and value valid during the call).
type actorDays struct {
	prefix []byte // the postings' prefix being counted; empty for none
	day    uint32
	n      uint64
	key    []byte
	val    [8]byte
	emit   func(key, val []byte)
}

// add counts posting k, which shares its first shared bytes with the
// posting added before it.
func (a *actorDays) add(k []byte, shared int) {
	if len(k) < 16 {
		return
	}
	p := k[:len(k)-16]
	day := microDay(int64(^binary.BigEndian.Uint64(k[len(k)-16:]) ^ 1<<63))
	if len(p) == 0 || len(p) != len(a.prefix) || shared < len(p) {
		a.flush()
		a.prefix = a.prefix[:0]
		if bytes.Count(p, []byte{0}) != 3 {
			return // counted by counts.add
		}
		a.prefix = append(a.prefix, p...)
	} else if day == a.day {
		a.n++
		return
	}
	a.flush()
	a.day, a.n = day, 1
}

// microDay is epochDay(time.UnixMicro(us)).
func microDay(us int64) uint32 {
	sec := us / 1e6
	if us%1e6 < 0 {
		sec--
	}
	return uint32(sec/86400) ^ 1<<31
}

// flush emits the count being kept, if any, with the key countKey makes
// for the actor's TYPE:ID as event.Ref.Append writes it.
func (a *actorDays) flush() {
	if a.n == 0 {
		return
	}
	p := a.prefix[1 : len(a.prefix)-1]
	i := bytes.IndexByte(p, 0)
	j := i + 1 + bytes.IndexByte(p[i+1:], 0)
	tenant, typ, id := p[:i], p[i+1:j], p[j+1:]
	a.key = append(append(append(a.key[:0], kindCount), tenant...), 0)
	a.key = binary.BigEndian.AppendUint32(a.key, a.day)
	a.key = append(append(append(a.key, byte(ByActor)), typ...), ':')
	if bytes.ContainsAny(id, `:"`) {
		a.key = strconv.AppendQuote(a.key, string(id))
	} else {
		a.key = append(a.key, id...)
	}
	binary.BigEndian.PutUint64(a.val[:], a.n)
	a.emit(a.key, a.val[:])
	a.n = 0
}
