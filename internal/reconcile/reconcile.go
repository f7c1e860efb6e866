// Package reconcile answers "did we lose anything?" from what the archive
// itself records: per source and day, what was received and where it went
// (archived, the error output, dropped under when_full: drop, still in the
// WAL), and for every producer stream the numbers missing — gaps between
// the numbers archived, and a stream that stopped short of the last
// number its heartbeat announced.
package reconcile

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// Options says what to reconcile.
type Options struct {
	Store objstore.Store
	// Pending is the WAL tail not yet archived, counted with
	// archive.Accounts; PendingKnown says whether it was read at all.
	Pending      archive.Accounts
	PendingKnown bool
	// Since and Until bound the days reported (zero: all). Streams are
	// reported whole.
	Since, Until time.Time
	// Include, when set, keeps only the manifests it accepts (a running
	// collector's batches delivered after its WAL tail was read are left
	// to the tail, so nothing is counted twice).
	Include func(*archive.Manifest) bool
}

// Row is one source's day.
type Row struct {
	Source   string `json:"source"`
	Day      string `json:"day"`
	Received int    `json:"received"` // archived + errors + dropped + pending
	Archived int    `json:"archived"`
	Errors   int    `json:"errors"`
	Dropped  int    `json:"dropped"`
	Pending  int    `json:"pending"` // in the WAL, not yet archived
}

// Stream is one producer stream's numbers.
type Stream struct {
	Stream    string `json:"stream"`
	Source    string `json:"source"`
	First     uint64 `json:"first"` // smallest number archived
	Last      uint64 `json:"last"`  // largest
	Count     uint64 `json:"count"` // distinct numbers archived or pending
	Heartbeat uint64 `json:"heartbeat,omitempty"`
	// Missing counts the numbers from 1 to max(Last, Heartbeat) that are
	// nowhere; Gaps lists them as ranges (the first MaxGaps).
	Missing uint64      `json:"missing"`
	Gaps    [][2]uint64 `json:"gaps,omitempty"`
	// ShortOfHeartbeat: the stream's events stop before the number its
	// newest heartbeat announced.
	ShortOfHeartbeat bool `json:"short_of_heartbeat,omitempty"`
}

// Writer is one collector's own sequence: the WAL records its batches
// cover. Its batches' ranges follow each other, so a hole is WAL records
// that reached no batch (a WAL cut by kansa wal repair, a lost manifest).
type Writer struct {
	Writer  string      `json:"writer"`
	First   uint64      `json:"first"`
	Last    uint64      `json:"last"`
	Batches int         `json:"batches"`
	Missing uint64      `json:"missing"`
	Gaps    [][2]uint64 `json:"gaps,omitempty"`
}

// MaxGaps bounds the gaps listed per stream.
const MaxGaps = 20

// Report is the reconciliation.
type Report struct {
	Rows         []Row    `json:"rows"`
	Total        Row      `json:"total"`
	Streams      []Stream `json:"streams"`
	Writers      []Writer `json:"writers"`
	PendingKnown bool     `json:"pending_known"`
}

// OK reports whether no stream is missing numbers and nothing was dropped.
func (r *Report) OK() bool {
	if r.Total.Dropped > 0 {
		return false
	}
	for _, s := range r.Streams {
		if s.Missing > 0 {
			return false
		}
	}
	for _, w := range r.Writers {
		if w.Missing > 0 {
			return false
		}
	}
	return true
}

type streamAcc struct {
	source string
	runs   [][2]uint64
	hb     uint64
}

// Build reconciles the archive in opt.Store with the pending records.
func Build(ctx context.Context, opt Options) (*Report, error) {
	rows := map[[2]string]*Row{}
	streams := map[string]*streamAcc{}
	addDay := func(d archive.SourceDay, pending bool) {
		if day, err := time.Parse(time.DateOnly, d.Day); err == nil {
			if !opt.Since.IsZero() && day.Before(opt.Since.Truncate(24*time.Hour)) || !opt.Until.IsZero() && day.After(opt.Until) {
				return
			}
		}
		k := [2]string{d.Source, d.Day}
		r := rows[k]
		if r == nil {
			r = &Row{Source: d.Source, Day: d.Day}
			rows[k] = r
		}
		if pending {
			r.Pending += d.Events + d.Rejects
		} else {
			r.Archived += d.Events
			r.Errors += d.Rejects
		}
		r.Dropped += d.Dropped
	}
	addSpan := func(s archive.SeqSpan) {
		a := streams[s.Stream]
		if a == nil {
			a = &streamAcc{source: s.Source}
			streams[s.Stream] = a
		}
		a.runs = append(a.runs, s.Present()...)
		a.hb = max(a.hb, s.Heartbeat)
	}
	ranges := map[string][][2]uint64{}
	err := archive.EveryManifest(ctx, opt.Store, archive.ManifestPrefix, func(m *archive.Manifest) error {
		if opt.Include != nil && !opt.Include(m) {
			return nil
		}
		ranges[m.Writer] = append(ranges[m.Writer], [2]uint64{m.First, m.Last})
		for _, d := range m.Sources {
			addDay(d, false)
		}
		for _, s := range m.Seq {
			addSpan(s)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	days, spans := opt.Pending.Result()
	for _, d := range days {
		addDay(d, true)
	}
	for _, s := range spans {
		addSpan(s)
	}
	rep := &Report{PendingKnown: opt.PendingKnown, Rows: []Row{}, Streams: []Stream{}, Writers: []Writer{}}
	for _, name := range slices.Sorted(maps.Keys(ranges)) {
		s := streamOf(name, &streamAcc{runs: ranges[name]})
		rep.Writers = append(rep.Writers, Writer{Writer: name, First: s.First, Last: s.Last, Batches: len(ranges[name]), Missing: s.Missing, Gaps: s.Gaps})
	}
	for _, k := range slices.SortedFunc(maps.Keys(rows), func(a, b [2]string) int { return cmp.Or(cmp.Compare(a[0], b[0]), cmp.Compare(a[1], b[1])) }) {
		r := rows[k]
		r.Received = r.Archived + r.Errors + r.Dropped + r.Pending
		rep.Rows = append(rep.Rows, *r)
		rep.Total.Received += r.Received
		rep.Total.Archived += r.Archived
		rep.Total.Errors += r.Errors
		rep.Total.Dropped += r.Dropped
		rep.Total.Pending += r.Pending
	}
	for _, name := range slices.Sorted(maps.Keys(streams)) {
		rep.Streams = append(rep.Streams, streamOf(name, streams[name]))
	}
	return rep, nil
}

// streamOf merges a stream's runs and finds what is missing from 1 to its
// newest number or heartbeat.
func streamOf(name string, a *streamAcc) Stream {
	s := Stream{Stream: name, Source: a.source, Heartbeat: a.hb}
	slices.SortFunc(a.runs, func(x, y [2]uint64) int { return cmp.Compare(x[0], y[0]) })
	var merged [][2]uint64
	for _, r := range a.runs {
		if k := len(merged); k > 0 && r[0] <= merged[k-1][1]+1 {
			merged[k-1][1] = max(merged[k-1][1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	next := uint64(1)
	gap := func(from, to uint64) {
		s.Missing += to - from + 1
		if len(s.Gaps) < MaxGaps {
			s.Gaps = append(s.Gaps, [2]uint64{from, to})
		}
	}
	for _, r := range merged {
		if r[0] > next {
			gap(next, r[0]-1)
		}
		s.Count += r[1] - r[0] + 1
		next = r[1] + 1
	}
	if len(merged) > 0 {
		s.First, s.Last = merged[0][0], merged[len(merged)-1][1]
	}
	if a.hb > s.Last {
		s.ShortOfHeartbeat = true
		gap(next, a.hb)
	}
	return s
}
