package archive

import (
	"cmp"
	"slices"
	"strconv"
	"time"

	"github.com/kansa-audit/kansa/internal/rawjson"
	"github.com/kansa-audit/kansa/internal/record"
)

// What a manifest says for reconciliation (kansa reconcile): counts per
// source and day, and each producer stream's numbers.

// SourceDay counts one source's records of one day (UTC; an event's own
// time, a reject's arrival) in a batch.
type SourceDay struct {
	Source  string `json:"source"`
	Day     string `json:"day"`
	Events  int    `json:"events"`
	Rejects int    `json:"rejects,omitempty"`
	// Dropped is what the batch's "dropped" records say was dropped
	// under when_full: drop (those records are not counted in Rejects).
	Dropped int `json:"dropped,omitempty"`
}

// SeqSpan summarises one producer stream within a batch: its numbered
// events (heartbeats apart) and its newest heartbeat.
type SeqSpan struct {
	Stream string `json:"stream"`
	Source string `json:"source,omitempty"`
	Min    uint64 `json:"min"`
	Max    uint64 `json:"max"`
	Count  int    `json:"count"` // distinct numbers
	// Runs lists the numbers present as [first, last] ranges when they are
	// not the one run Min..Max.
	Runs [][2]uint64 `json:"runs,omitempty"`
	// Heartbeat is the largest number a heartbeat of the stream repeated
	// in this batch: every number up to it was assigned.
	Heartbeat uint64 `json:"heartbeat,omitempty"`
}

// DroppedType is the error type of the record kansa writes after dropping
// records under when_full: drop; its "count" says how many.
const DroppedType = "dropped"

// HeartbeatAction is the action of a stream heartbeat.
const HeartbeatAction = "kansa.heartbeat"

// Accounts gathers the counts and streams of records (a batch's, or the
// WAL tail's for kansa reconcile). The zero value is ready.
type Accounts struct {
	days    map[dayKey]*SourceDay
	streams map[string]*streamAcc
	// The last row counted, reused while records of one source and day
	// follow each other (the usual case), so counting costs no lookup.
	last    *SourceDay
	lastKey dayKey
}

type dayKey struct {
	source string
	day    int64 // days since the epoch, UTC
}

const usPerDay = 24 * 3600 * 1e6

type streamAcc struct {
	source string
	ns     []uint64
	hb     uint64
}

// Add counts one record.
func (a *Accounts) Add(e *record.Entry) {
	errType := ""
	if e.Type == record.TypeReject {
		errType = rejectType(e.Body)
	}
	if a.days == nil {
		a.days = map[dayKey]*SourceDay{}
		a.streams = map[string]*streamAcc{}
	}
	day := e.Time / usPerDay
	if e.Time < 0 && e.Time%usPerDay != 0 {
		day--
	}
	d := a.last
	if d == nil || day != a.lastKey.day || string(e.Source) != a.lastKey.source {
		k := dayKey{string(e.Source), day}
		if d = a.days[k]; d == nil {
			d = &SourceDay{Source: k.source, Day: time.UnixMicro(day * usPerDay).UTC().Format(time.DateOnly)}
			a.days[k] = d
		}
		a.last, a.lastKey = d, k
	}
	switch {
	case e.Type != record.TypeReject:
		d.Events++
	case errType == DroppedType:
		d.Dropped += droppedCount(e.Body)
	default:
		d.Rejects++
	}
	if e.Type == record.TypeReject || len(e.Stream) == 0 {
		return
	}
	s := a.streams[string(e.Stream)]
	if s == nil {
		s = &streamAcc{source: string(e.Source)}
		a.streams[string(e.Stream)] = s
	}
	if IsHeartbeat(e.Body) {
		s.hb = max(s.hb, e.N)
		return
	}
	s.ns = append(s.ns, e.N)
}

// IsHeartbeat reports whether an event's body is a stream heartbeat.
func IsHeartbeat(body []byte) bool {
	v, ok := rawjson.Get(body, "action")
	return ok && string(v) == `"`+HeartbeatAction+`"`
}

func droppedCount(body []byte) int {
	if v, ok := rawjson.Get(body, "count"); ok {
		if n, err := strconv.Atoi(string(v)); err == nil {
			return n
		}
	}
	return 0
}

// Result returns the counts per source and day and the streams, sorted.
func (a *Accounts) Result() ([]SourceDay, []SeqSpan) {
	var days []SourceDay
	for _, d := range a.days {
		days = append(days, *d)
	}
	slices.SortFunc(days, func(x, y SourceDay) int { return cmp.Or(cmp.Compare(x.Source, y.Source), cmp.Compare(x.Day, y.Day)) })
	var seqs []SeqSpan
	for stream, s := range a.streams {
		sp := SeqSpan{Stream: stream, Source: s.source, Heartbeat: s.hb}
		if len(s.ns) > 0 {
			slices.Sort(s.ns)
			s.ns = slices.Compact(s.ns)
			sp.Min, sp.Max, sp.Count = s.ns[0], s.ns[len(s.ns)-1], len(s.ns)
			if uint64(sp.Count) != sp.Max-sp.Min+1 {
				sp.Runs = Runs(s.ns)
			}
		}
		seqs = append(seqs, sp)
	}
	slices.SortFunc(seqs, func(x, y SeqSpan) int { return cmp.Compare(x.Stream, y.Stream) })
	return days, seqs
}

// Runs turns sorted distinct numbers into [first, last] ranges.
func Runs(ns []uint64) [][2]uint64 {
	var runs [][2]uint64
	for _, n := range ns {
		if k := len(runs); k > 0 && runs[k-1][1]+1 == n {
			runs[k-1][1] = n
			continue
		}
		runs = append(runs, [2]uint64{n, n})
	}
	return runs
}

// Present returns the ranges of numbers the span holds.
func (s *SeqSpan) Present() [][2]uint64 {
	if s.Count == 0 {
		return nil
	}
	if len(s.Runs) > 0 {
		return s.Runs
	}
	return [][2]uint64{{s.Min, s.Max}}
}
