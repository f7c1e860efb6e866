package node_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/batch"
	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/query"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/search"
	"github.com/kansa-audit/kansa/internal/sqlq"
	"github.com/kansa-audit/kansa/internal/synth"
)

func TestSecondOwnerIsRefused(t *testing.T) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if _, err := node.Open(cfg, nil); !errors.Is(err, node.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

// TestIndexSink: with the index enabled, acknowledged events become
// searchable through it within its interval, before the archive's batch
// closes.
func TestIndexSink(t *testing.T) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	cfg.Index.Enabled = true
	cfg.Index.MaxInterval = 50 * time.Millisecond
	cfg.Batch.MaxInterval = time.Hour // the archive holds its batch open
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	now := time.Now()
	for i := range 20 {
		body := fmt.Sprintf(`{"schema":"kansa.audit/v1","id":"ix-%d","time":"2024-08-06T09:00:%02d.000000Z","action":"update","actor":{"type":"User","id":"7"},"target":{"type":"Order","id":"%d"},"source":"t","tenant":"default","outcome":"success"}`, i, i, i%3)
		recs = append(recs, record.AppendEntry(nil, record.TypeEvent, now, "default", "t", "", 0, []byte(body)))
	}
	last, err := n.Ingest.Append(context.Background(), recs, node.Block)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ingest.Sync(context.Background(), last, len(recs)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.IndexBatcher.WaitDelivered(ctx, last); err != nil {
		t.Fatal(err)
	}
	res, err := n.Index.Search(ctx, index.Request{Keys: []index.Key{{Kind: index.Target, Type: "Order", ID: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range res.Events {
		e, _ := event.Decode(l)
		ids = append(ids, e.ID)
	}
	if want := []string{"ix-19", "ix-16", "ix-13", "ix-10", "ix-7", "ix-4", "ix-1"}; !slices.Equal(ids, want) {
		t.Fatalf("Order 1's history from the index: %v, want %v", ids, want)
	}
	if n.Batcher.Delivered() >= last {
		t.Fatal("the archive delivered its batch early; the test needs it open")
	}
}

// ingestSynth sends the first chunk of g's workload (every ninth event in
// tenant acme) to n, waits until it is durable and every sink has all but
// its last 200 records (the partial batches stay in the WAL), and returns
// the events sent and the last WAL index.
func ingestSynth(t *testing.T, n *node.Node, g *synth.Generator) ([]*event.Event, uint64) {
	t.Helper()
	var evs []*event.Event
	var recs [][]byte
	for i, l := range g.Chunk(nil, 0) {
		e, _ := event.Decode(l)
		if i%9 == 0 {
			e.Tenant = "acme"
		}
		l = e.AppendJSON(nil)
		e.Normalize()
		evs = append(evs, e)
		recs = append(recs, record.AppendEntry(nil, record.TypeEvent, e.Time, e.Tenant, e.Source, "", 0, l))
	}
	ctx := context.Background()
	last, err := n.Ingest.Append(ctx, recs, node.Block)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ingest.Sync(ctx, last, len(recs)); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, b := range []*batch.Batcher{n.Batcher, n.IndexBatcher} {
		if b == nil {
			continue
		}
		if err := b.WaitDelivered(wctx, last-200); err != nil {
			t.Fatal(err)
		}
		if b.Delivered() >= last {
			t.Fatalf("a sink has everything (%d of %d): nothing is left in the WAL tail", b.Delivered(), last)
		}
	}
	return evs, last
}

// TestIndexedSearchEqualsScan: with the index on, kansa's searches answer
// exactly what a scan of the archive and the WAL answers, for randomized
// queries in the full language, while part of the events is still only in
// the WAL (neither indexed nor archived).
func TestIndexedSearchEqualsScan(t *testing.T) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	cfg.Index.Enabled = true
	cfg.Index.MaxInterval = time.Hour // batches cut by size only: the last stays in the WAL
	cfg.Batch.MaxBytes = 64 << 10
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	evs, _ := ingestSynth(t, n, synth.New(synth.Config{Seed: 11, Events: 3000, Actors: 200, TargetsPerType: 100, Days: 5}))
	ctx := context.Background()
	scan := &search.Scan{WAL: n.WAL, Store: n.Store, Delivered: n.Batcher.Delivered}
	if _, ok := n.Search.(*search.Indexed); !ok {
		t.Fatalf("n.Search is %T, want the index", n.Search)
	}
	rng := rand.New(rand.NewPCG(3, 3))
	pick := func() *event.Event { return evs[rng.IntN(len(evs))] }
	t0 := evs[0].Time
	gen := []func() string{
		func() string { return "actor:" + event.Ref{Type: pick().Actor.Type, ID: pick().Actor.ID}.String() },
		func() string { e := pick(); return "target:" + e.Target.Type + ":" + e.Target.ID },
		func() string { return "request:" + pick().Context.RequestID },
		func() string { return "action:" + pick().Action + "," + pick().Action },
		func() string { return "-action:*.view" },
		func() string { return "target:" + pick().Target.Type + ":*" },
		func() string { return "tenant:acme" },
		func() string {
			from := t0.Add(time.Duration(rng.IntN(100)) * time.Hour)
			return "created:" + from.Format("2006-01-02T15") + ".." + from.Add(time.Duration(rng.IntN(60))*time.Hour).Format("2006-01-02T15")
		},
		func() string { return "outcome:failure" },
		func() string { return "shipped" },
	}
	for i := range 120 {
		var terms []string
		for range 1 + rng.IntN(3) {
			terms = append(terms, gen[rng.IntN(len(gen))]())
		}
		q, err := query.Parse(strings.Join(terms, " "), time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		q.Limit = []int{0, 1, 5, 30}[rng.IntN(4)]
		want, err := scan.Search(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.Search.Search(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.EqualFunc(got, want, func(a, b search.Hit) bool { return bytes.Equal(a.Raw, b.Raw) }) {
			t.Fatalf("query %d %q (limit %d): the index found %d events, the scan %d", i, strings.Join(terms, " "), q.Limit, len(got), len(want))
		}
	}
	var targets, actors []event.Ref
	tail := 0
	for range 25 {
		e := pick()
		targets = append(targets, event.Ref{Type: e.Target.Type, ID: e.Target.ID})
		a := pick().Actor
		actors = append(actors, event.Ref{Type: a.Type, ID: a.ID})
	}
	for _, e := range evs[len(evs)-150:] { // surely in the WAL only
		targets = append(targets, event.Ref{Type: e.Target.Type, ID: e.Target.ID})
		tail++
		if tail == 10 {
			break
		}
	}
	histories(t, n, scan, targets, false, rng)
	histories(t, n, scan, actors, true, rng)
}

// histories pages through the history of refs (records, or actors) with
// random page sizes and checks it against the scan's answer for the same
// record: everything, archived, indexed or still in the WAL.
func histories(t *testing.T, n *node.Node, scan search.Searcher, refs []event.Ref, actor bool, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	for _, ref := range refs {
		q := query.Query{}
		if actor {
			q.Actors = []event.Ref{ref}
		} else {
			q.Targets = []event.Ref{ref}
		}
		want, err := scan.Search(ctx, &q)
		if err != nil {
			t.Fatal(err)
		}
		var got []search.Hit
		after := ""
		for page := 0; ; page++ {
			hits, next, err := n.History(ctx, ref, actor, 1+rng.IntN(40), after)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, hits...)
			if next == "" {
				break
			}
			if page > 10000 {
				t.Fatal("history does not end")
			}
			after = next
		}
		if !slices.EqualFunc(got, want, func(a, b search.Hit) bool { return bytes.Equal(a.Raw, b.Raw) }) {
			t.Fatalf("history of %v (actor %v): %d events by pages, the scan %d", ref, actor, len(got), len(want))
		}
	}
}

// TestSQLEqualsBruteForce: SQL over the events relation answers what a
// brute-force pass over the events sent answers, for randomized lookups
// and counts, while part of the events is only in the WAL; with and
// without Parquet files in the archive (without, kansa sql makes them).
func TestSQLEqualsBruteForce(t *testing.T) {
	for _, formats := range [][]string{{"ndjson"}, {"ndjson", "parquet"}} {
		t.Run(strings.Join(formats, "+"), func(t *testing.T) {
			cfg := config.Defaults()
			cfg.Data = t.TempDir()
			cfg.Archive.Formats = formats
			cfg.Batch.MaxBytes = 64 << 10
			n, err := node.Open(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Shutdown(context.Background())
			if err := n.Start(); err != nil {
				t.Fatal(err)
			}
			evs, _ := ingestSynth(t, n, synth.New(synth.Config{Seed: 12, Events: 2000, Actors: 100, TargetsPerType: 50, Days: 5}))
			ctx := context.Background()
			rng := rand.New(rand.NewPCG(4, 4))
			pick := func() *event.Event { return evs[rng.IntN(len(evs))] }
			type check struct {
				sql     string
				tenants []string
				want    func(e *event.Event) bool // the rows are the ids of these, newest first
			}
			var checks []check
			for range 8 {
				a, tg, rq := pick(), pick(), pick()
				from := evs[0].Time.Add(time.Duration(rng.IntN(100)) * time.Hour)
				to := from.Add(time.Duration(rng.IntN(30)) * time.Hour)
				checks = append(checks,
					check{sql: fmt.Sprintf("actor_type = '%s' AND actor_id = '%s'", a.Actor.Type, a.Actor.ID),
						want: func(e *event.Event) bool { return e.Actor != nil && *e.Actor == *a.Actor }},
					check{sql: fmt.Sprintf("target_type = '%s' AND target_id = '%s'", tg.Target.Type, tg.Target.ID),
						want: func(e *event.Event) bool {
							return e.Target != nil && e.Target.Type == tg.Target.Type && e.Target.ID == tg.Target.ID
						}},
					check{sql: fmt.Sprintf("request_id = '%s'", rq.Context.RequestID),
						want: func(e *event.Event) bool { return e.Context.RequestID == rq.Context.RequestID }},
					check{sql: fmt.Sprintf("time >= '%s' AND time < '%s' AND action = '%s'", from.Format(time.RFC3339), to.Format(time.RFC3339), a.Action),
						want: func(e *event.Event) bool { return !e.Time.Before(from) && e.Time.Before(to) && e.Action == a.Action }},
					check{sql: fmt.Sprintf("actor_id = '%s'", a.Actor.ID), tenants: []string{"acme"},
						want: func(e *event.Event) bool { return e.Tenant == "acme" && e.Actor != nil && e.Actor.ID == a.Actor.ID }},
				)
			}
			checks = append(checks, check{sql: "tenant = 'default'", tenants: []string{"acme"}, want: func(*event.Event) bool { return false }})
			for _, c := range checks {
				res, err := n.SQL.Query(ctx, sqlq.Request{SQL: "SELECT id FROM events WHERE " + c.sql + " ORDER BY time DESC, id DESC", Tenants: c.tenants})
				if err != nil {
					t.Fatalf("%s: %v", c.sql, err)
				}
				var got, want []string
				for _, r := range res.Rows {
					got = append(got, r[0].(string))
				}
				var match []*event.Event
				for _, e := range evs {
					if c.want(e) {
						match = append(match, e)
					}
				}
				slices.SortFunc(match, func(x, y *event.Event) int {
					if c := y.Time.Compare(x.Time); c != 0 {
						return c
					}
					return strings.Compare(y.ID, x.ID)
				})
				for _, e := range match {
					want = append(want, e.ID)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("%s (tenants %v): SQL found %d events, brute force %d\n%v\n%v", c.sql, c.tenants, len(got), len(want), got, want)
				}
			}
			// Counts by action per day.
			res, err := n.SQL.Query(ctx, sqlq.Request{SQL: "SELECT strftime(time, '%Y-%m-%d') || ' ' || action AS k, count(*) FROM events GROUP BY 1"})
			if err != nil {
				t.Fatal(err)
			}
			counts := map[string]int64{}
			for _, e := range evs {
				counts[e.Time.UTC().Format("2006-01-02")+" "+e.Action]++
			}
			got := map[string]int64{}
			for _, r := range res.Rows {
				got[r[0].(string)] = r[1].(int64)
			}
			if !maps.Equal(got, counts) {
				t.Fatalf("count by action per day: SQL has %d groups, brute force %d", len(got), len(counts))
			}
		})
	}
}
