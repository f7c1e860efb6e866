package index

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/synth"
)

// indexed is an event as the brute-force model sees it.
type indexed struct {
	line []byte
	e    *event.Event
	seq  int // order of first addition
}

// model is a brute-force index: every added event, searched by scanning.
type model struct {
	events []indexed
	ids    map[string]bool
}

func (m *model) add(lines [][]byte) {
	for _, l := range lines {
		e, err := event.Decode(bytes.Clone(l))
		if err != nil {
			panic(err)
		}
		if m.ids[e.ID] {
			continue
		}
		m.ids[e.ID] = true
		m.events = append(m.events, indexed{bytes.Clone(l), e, len(m.events)})
	}
}

func inKey(e *event.Event, k Key) bool {
	if k.Tenant != "" && e.Tenant != k.Tenant {
		return false
	}
	switch k.Kind {
	case Actor:
		return e.Actor != nil && e.Actor.Type == k.Type && e.Actor.ID == k.ID
	case Target:
		return e.Target != nil && e.Target.Type == k.Type && e.Target.ID == k.ID
	case RequestID:
		return e.Context.RequestID == k.ID
	}
	return true
}

// search returns every matching event's line, newest first, ties by id
// (greatest first).
func (m *model) search(req Request) [][]byte {
	var hits []indexed
	for _, ev := range m.events {
		e := ev.e
		if !req.Since.IsZero() && e.Time.Before(req.Since) || !req.Until.IsZero() && !e.Time.Before(req.Until) {
			continue
		}
		if req.Match != nil && !req.Match(e) {
			continue
		}
		if slices.ContainsFunc(req.Keys, func(k Key) bool { return inKey(e, k) }) {
			hits = append(hits, ev)
		}
	}
	slices.SortStableFunc(hits, func(a, b indexed) int {
		if c := b.e.Time.Compare(a.e.Time); c != 0 {
			return c
		}
		return strings.Compare(b.e.ID, a.e.ID) // as search.Scan orders
	})
	out := make([][]byte, len(hits))
	for i, h := range hits {
		out[i] = h.line
	}
	return out
}

// all pages through req and returns every event.
func all(t *testing.T, x *Index, req Request) [][]byte {
	t.Helper()
	var out [][]byte
	for pages := 0; ; pages++ {
		res, err := x.Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Events...)
		if res.Next == "" {
			return out
		}
		if pages > 100_000 {
			t.Fatal("paging does not end")
		}
		req.After = res.Next
	}
}

func workload(t testing.TB, n uint64) [][]byte {
	t.Helper()
	// Few actors and records, so that lists are long and overlap.
	g := synth.New(synth.Config{Seed: 5, Events: n, Actors: 300, TargetsPerType: 200, Days: 10})
	var lines [][]byte
	for k := range g.Chunks() {
		lines = g.Chunk(lines, k)
	}
	// Some events in another tenant, and one before 1970.
	for i := 0; i < len(lines); i += 7 {
		e, _ := event.Decode(lines[i])
		e.Tenant = "acme"
		if i == 700 {
			e.Time = time.Date(1969, 7, 20, 20, 17, 0, 0, time.UTC)
		}
		lines[i] = e.AppendJSON(nil)
	}
	return lines
}

func openTemp(t *testing.T) (*Index, string) {
	t.Helper()
	dir := t.TempDir()
	x, err := Open(dir, Options{BlockBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x, dir
}

// TestSearchEqualsScan: pages of random lookups, with time ranges, OR of
// keys, filters and page sizes, equal a brute-force scan of the events.
func TestSearchEqualsScan(t *testing.T) {
	lines := workload(t, 6000)
	x, _ := openTemp(t)
	m := &model{ids: map[string]bool{}}
	for i := 0; i < len(lines); i += 500 {
		part := lines[i:min(i+500, len(lines))]
		if i > 0 { // resent events are the same events
			part = append(slices.Clone(part), lines[i-3:i]...)
		}
		n, err := x.Add(part)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(part) {
			t.Fatalf("Add of %d events indexed %d", len(part), n)
		}
		m.add(part)
	}
	randomQueries(t, x, m, lines, 300)
}

// randomQueries checks n pages of random lookups against the model.
func randomQueries(t *testing.T, x *Index, m *model, lines [][]byte, n int) {
	t.Helper()
	var evs []*event.Event
	for _, l := range lines {
		e, _ := event.Decode(l)
		evs = append(evs, e)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	randKey := func() Key {
		e := evs[rng.IntN(len(evs))]
		switch rng.IntN(5) {
		case 0:
			return Key{Kind: Actor, Tenant: []string{"", e.Tenant}[rng.IntN(2)], Type: e.Actor.Type, ID: e.Actor.ID}
		case 1:
			return Key{Kind: Target, Tenant: e.Tenant, Type: e.Target.Type, ID: e.Target.ID}
		case 2:
			return Key{Kind: RequestID, Tenant: e.Tenant, ID: e.Context.RequestID}
		case 3:
			return Key{Kind: All, Tenant: []string{"", "acme", "default"}[rng.IntN(3)]}
		}
		return Key{Kind: Actor, Type: "User", ID: "no-such-actor"}
	}
	t0 := evs[0].Time
	for i := range n {
		req := Request{Limit: 1 + rng.IntN(40)}
		for range 1 + rng.IntN(3) {
			req.Keys = append(req.Keys, randKey())
		}
		if rng.IntN(2) == 0 {
			req.Since = t0.Add(time.Duration(rng.IntN(10*24)) * time.Hour)
		}
		if rng.IntN(2) == 0 {
			req.Until = t0.Add(time.Duration(rng.IntN(10*24)) * time.Hour)
		}
		if rng.IntN(3) == 0 {
			action := []string{"update", "create", "delete"}[rng.IntN(3)]
			req.Match = func(e *event.Event) bool { return e.Action == action }
		}
		got, want := all(t, x, req), m.search(req)
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("query %d %+v: index gave %d events, scan %d", i, req, len(got), len(want))
		}
	}
}

// TestPagingUnderIngest: events added between two pages neither shift nor
// repeat the pages: the pages, read while ingest goes on, hold exactly the
// events that were there when paging began, plus older ones added since
// (they sort after the cursor), and none newer.
func TestPagingUnderIngest(t *testing.T) {
	lines := workload(t, 4000)
	x, _ := openTemp(t)
	first, later := lines[:3000], lines[3000:]
	// later holds newer events; put some of them back in time, before
	// everything, so they land after any cursor.
	var old [][]byte
	for i, l := range later {
		if i%10 == 0 {
			e, _ := event.Decode(l)
			e.Time = e.Time.AddDate(-1, 0, 0)
			e.ID += "-old"
			old = append(old, e.AppendJSON(nil))
		}
	}
	if _, err := x.Add(first); err != nil {
		t.Fatal(err)
	}
	m := &model{ids: map[string]bool{}}
	m.add(first)
	req := Request{Keys: []Key{{Kind: All}}, Limit: 97}
	var got [][]byte
	for page := 0; ; page++ {
		res, err := x.Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, res.Events...)
		if page == 3 {
			if _, err := x.Add(later); err != nil {
				t.Fatal(err)
			}
			if _, err := x.Add(old); err != nil {
				t.Fatal(err)
			}
			m.add(old)
		}
		if res.Next == "" {
			break
		}
		req.After = res.Next
	}
	var want [][]byte
	// The pages hold the first events and the old ones in their place by
	// time (all after the cursor of page 3); later, newer than the cursor,
	// is not there.
	want = m.search(Request{Keys: []Key{{Kind: All}}})
	if !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("paged %d events under ingest, want %d", len(got), len(want))
	}
}

// TestReopen: the index survives a restart, keeps numbering events after
// the last, and shows the events added again after it once.
func TestReopen(t *testing.T) {
	lines := workload(t, 1200)
	dir := t.TempDir()
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := x.Add(lines[:600]); err != nil {
		t.Fatal(err)
	}
	x.Close()
	if x, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if _, err := x.Add(lines); err != nil { // 600 of them again
		t.Fatal(err)
	}
	m := &model{ids: map[string]bool{}}
	m.add(lines)
	req := Request{Keys: []Key{{Kind: All}}, Limit: 1000}
	if got, want := all(t, x, req), m.search(req); !slices.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("after reopen: %d events, want %d", len(got), len(want))
	}
}

func TestErrors(t *testing.T) {
	x, dir := openTemp(t)
	if _, err := x.Search(context.Background(), Request{}); err == nil {
		t.Error("a search without keys was accepted")
	}
	if _, err := x.Search(context.Background(), Request{Keys: []Key{{Kind: All}}, After: "not a cursor"}); err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Errorf("malformed cursor: %v", err)
	}
	if _, err := x.Add([][]byte{[]byte(`{"schema":"kansa.audit/v1"`)}); err == nil {
		t.Error("a malformed line was indexed")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	x.Add(workload(t, 10))
	if _, err := x.Search(ctx, Request{Keys: []Key{{Kind: All}}}); err == nil {
		t.Error("a search with an ended context succeeded")
	}
	// An index of format 4 has no groups: it reads as it is, its events
	// found.
	x.db.Set(metaVersion, []byte("4"), nil)
	x.Close()
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("an index of format 4: %v", err)
	}
	if res, err := x.Search(context.Background(), Request{Keys: []Key{{Kind: All}}}); err != nil || len(res.Events) != 10 {
		t.Fatalf("an index of format 4: %d events, %v", len(res.Events), err)
	}
	x.db.Set(metaVersion, []byte("0"), nil)
	x.Close()
	if _, err := Open(dir, Options{}); err == nil || !strings.Contains(err.Error(), "kansa reindex") {
		t.Errorf("an index of another format opened: %v", err)
	}
}

func BenchmarkAdd(b *testing.B) {
	g := synth.New(synth.Config{Seed: 1, Events: 64 * synth.ChunkSize})
	x, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer x.Close()
	var lines [][]byte
	k := 0
	for b.Loop() {
		lines = g.Chunk(lines[:0], k%g.Chunks())
		k++
		b.StartTimer()
		if _, err := x.Add(lines); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(k*synth.ChunkSize)/b.Elapsed().Seconds(), "events/s")
}

// TestRepeatsShownOnce: events added again (a redelivered batch, a resent
// event) are shown once, also when they share their time with other
// events and a page ends between them.
func TestRepeatsShownOnce(t *testing.T) {
	x, _ := openTemp(t)
	var lines [][]byte
	for i := range 30 {
		lines = append(lines, fmt.Appendf(nil, `{"schema":"kansa.audit/v1","id":"same-%d","time":"2024-08-06T09:00:00.000000Z","action":"update","actor":{"type":"User","id":"1"},"source":"s","tenant":"default","outcome":"success"}`, i))
	}
	m := &model{ids: map[string]bool{}}
	for _, part := range [][][]byte{lines[:20], lines[10:], lines, lines[5:6]} {
		if _, err := x.Add(part); err != nil {
			t.Fatal(err)
		}
		m.add(part)
	}
	for limit := 1; limit <= 8; limit++ {
		for _, k := range []Key{{Kind: All}, {Kind: Actor, Type: "User", ID: "1"}} {
			req := Request{Keys: []Key{k, k}, Limit: limit}
			if got, want := all(t, x, req), m.search(req); !slices.EqualFunc(got, want, bytes.Equal) {
				t.Fatalf("limit %d: %d events, want the %d distinct ones in order", limit, len(got), len(want))
			}
		}
	}
}

// TestCounts: the per-day counters equal counting the events, for each
// dimension, for one tenant and for all, within a range of days.
func TestCounts(t *testing.T) {
	lines := workload(t, 5000)
	x, _ := openTemp(t)
	for i := 0; i < len(lines); i += 700 {
		if _, err := x.Add(lines[i:min(i+700, len(lines))]); err != nil {
			t.Fatal(err)
		}
	}
	var evs []*event.Event
	for _, l := range lines {
		e, _ := event.Decode(l)
		e.Normalize()
		evs = append(evs, e)
	}
	day := func(t time.Time) time.Time { return t.UTC().Truncate(24 * time.Hour) }
	since, until := evs[1000].Time, evs[4000].Time
	for name, dim := range Dims {
		for _, tenant := range []string{"", "acme"} {
			want := map[Count]bool{}
			sums := map[[2]string]uint64{}
			for _, e := range evs {
				if tenant != "" && e.Tenant != tenant || day(e.Time).Before(day(since)) || day(e.Time).After(day(until)) {
					continue
				}
				if v := wantDimValue(dim, e); v != "" {
					sums[[2]string{day(e.Time).Format(time.RFC3339), v}]++
				}
			}
			for k, n := range sums {
				d, _ := time.Parse(time.RFC3339, k[0])
				want[Count{Day: d, Value: k[1], N: n}] = true
			}
			got, err := x.Counts(context.Background(), tenant, dim, since, until)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%s, tenant %q: %d counts, want %d", name, tenant, len(got), len(want))
			}
			for i, c := range got {
				if !want[c] {
					t.Fatalf("%s, tenant %q: count %+v is wrong", name, tenant, c)
				}
				if i > 0 && got[i-1].Day.After(c.Day) {
					t.Fatalf("%s: counts out of day order", name)
				}
			}
		}
	}
}

// wantDimValue is what Counts counts an event by, written out apart from
// the index's own code.
func wantDimValue(d Dim, e *event.Event) string {
	switch d {
	case ByAction:
		return e.Action
	case BySource:
		return e.Source
	case ByUserAgent:
		return e.Context.UserAgent
	case ByActor:
		if e.Actor == nil {
			return ""
		}
		return event.Ref{Type: e.Actor.Type, ID: e.Actor.ID}.String()
	case ByOutcome:
		return e.Outcome
	}
	return ""
}

// TestCountsKeepTheirTenant: counts are given tenants that point into a
// batch the builder reuses; a tenant's bytes changing under them must not
// move another tenant's events to it.
func TestCountsKeepTheirTenant(t *testing.T) {
	var c counts
	buf := []byte("aa")
	at := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	e := &event.Event{Time: at, Action: "update"}
	c.add("aa", e)
	c.add("bb", e)
	c.add(unsafe.String(&buf[0], len(buf)), e) // found, and remembered as the last
	copy(buf, "bb")                            // the batch is reused
	c.add("bb", e)
	got := map[string]uint64{}
	c.each(func(key []byte, n uint64) error {
		if want := countKey(nil, "bb", epochDay(at), ByAction, "update"); bytes.Equal(key, want) {
			got["bb"] = n
		} else if want := countKey(nil, "aa", epochDay(at), ByAction, "update"); bytes.Equal(key, want) {
			got["aa"] = n
		}
		return nil
	})
	if got["aa"] != 2 || got["bb"] != 2 {
		t.Fatalf("counts by action: %v, want aa 2 and bb 2", got)
	}
}

// TestCountsRedelivered: a batch added again by WAL index (after a crash
// between indexing and checkpointing) leaves the counters as they were;
// the same events added again with Add count again.
func TestCountsRedelivered(t *testing.T) {
	ctx := context.Background()
	lines := workload(t, 1200)
	idx := make([]uint64, len(lines))
	for i := range idx {
		idx[i] = 100 + uint64(i)
	}
	x, _ := openTemp(t)
	total := func() uint64 {
		t.Helper()
		cs, err := x.Counts(ctx, "", ByAction, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var n uint64
		for _, c := range cs {
			n += c.N
		}
		return n
	}
	if _, err := x.AddWAL(lines[:800], idx[:800]); err != nil {
		t.Fatal(err)
	}
	if n := total(); n != 800 {
		t.Fatalf("counted %d events, want 800", n)
	}
	// Redelivered: the last batch again, then the rest along with part of it.
	if _, err := x.AddWAL(lines[400:800], idx[400:800]); err != nil {
		t.Fatal(err)
	}
	if _, err := x.AddWAL(lines[700:], idx[700:]); err != nil {
		t.Fatal(err)
	}
	if n := total(); n != uint64(len(lines)) {
		t.Fatalf("counted %d events after redeliveries, want %d", n, len(lines))
	}
	y, _ := openTemp(t)
	x = y
	for range 2 {
		if _, err := x.Add(lines[:100]); err != nil {
			t.Fatal(err)
		}
	}
	if n := total(); n != 200 {
		t.Fatalf("Add twice counted %d, want 200 (Add counts what arrives)", n)
	}
}
