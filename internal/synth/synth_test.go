package synth

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
)

// TestWorkload checks the generator makes what the package promises.
func TestWorkload(t *testing.T) {
	g := New(Config{Seed: 7, Events: 200_000, Actors: 1_000_000})
	actions, uas, actors, targets := map[string]int{}, map[string]bool{}, map[string]int{}, map[string]bool{}
	var prev time.Time
	n := 0
	minC, maxC := 1<<30, 0
	for k := range g.Chunks() {
		for _, line := range g.Chunk(nil, k) {
			e, err := event.Decode(line)
			if err != nil {
				t.Fatalf("event %d: %v\n%s", n, err, line)
			}
			e.Normalize()
			if err := e.Validate(); err != nil {
				t.Fatalf("event %d: %v\n%s", n, err, line)
			}
			if again := e.AppendJSON(nil); !bytes.Equal(again, line) {
				t.Fatalf("event %d is not in the stored encoding:\n%s\n%s", n, line, again)
			}
			if e.Time.Before(prev) {
				t.Fatalf("event %d at %s, before the previous at %s", n, e.Time, prev)
			}
			prev = e.Time
			actions[e.Action]++
			uas[e.Context.UserAgent] = true
			actors[e.Actor.ID]++
			targets[e.Target.Type+":"+e.Target.ID] = true
			if len(e.Changes) > 0 {
				minC, maxC = min(minC, len(e.Changes)), max(maxC, len(e.Changes))
			}
			n++
		}
	}
	if n != 200_000 {
		t.Fatalf("%d events", n)
	}
	if span := prev.Sub(g.Config().Start); span < 89*24*time.Hour || span > 90*24*time.Hour {
		t.Errorf("events span %s, want about 90 days", span)
	}
	if len(actions) != 50 || len(uas) < 450 || len(uas) > 550 {
		t.Errorf("%d actions, %d user agents", len(actions), len(uas))
	}
	if minC < 20 || maxC > 200 {
		t.Errorf("changes of %d..%d bytes, want 20..200", minC, maxC)
	}
	// The skew floor(n × U³): actor 0 has P(U < 0.01) = 1% of events;
	// about 27% of actors are drawn at all among 200k draws... check the
	// head: the busiest actor is 0 with about 1% of events.
	if c := actors["0"]; c < 1500 || c > 2500 {
		t.Errorf("actor 0 has %d of %d events, want about 1%%", c, n)
	}
	if len(targets) < 190_000 {
		t.Errorf("%d distinct targets in %d events: targets should rarely repeat at this size", len(targets), n)
	}
}

// TestDeterministic: chunks are the same made alone, in any order, and
// from another generator with the same config.
func TestDeterministic(t *testing.T) {
	cfg := Config{Seed: 3, Events: 3*ChunkSize + 100}
	a, b := New(cfg), New(cfg)
	for k := a.Chunks() - 1; k >= 0; k-- {
		x, y := a.Chunk(nil, k), b.Chunk(nil, k)
		if !slices.EqualFunc(x, y, bytes.Equal) {
			t.Fatalf("chunk %d differs between generators", k)
		}
	}
	if last := a.Chunk(nil, a.Chunks()-1); len(last) != 100 {
		t.Fatalf("last chunk has %d events", len(last))
	}
	other := New(Config{Seed: 4, Events: cfg.Events})
	if bytes.Equal(a.Chunk(nil, 0)[0], other.Chunk(nil, 0)[0]) {
		t.Fatal("another seed gave the same event")
	}
	if k1, k2 := a.Keys("request", 5, 1), b.Keys("request", 5, 1); !slices.Equal(k1, k2) {
		t.Fatalf("keys differ: %v %v", k1, k2)
	}
}

func BenchmarkChunk(b *testing.B) {
	g := New(Config{Seed: 1, Events: 100 * ChunkSize})
	var lines [][]byte
	for b.Loop() {
		lines = g.Chunk(lines[:0], 3)
	}
	b.ReportMetric(float64(ChunkSize*b.N)/b.Elapsed().Seconds(), "events/s")
}
