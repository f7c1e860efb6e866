//go:build cgo

package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/synth"
)

// evalKansa measures internal/index itself: Add in chunks, then the
// lookups through Search.
func evalKansa(out io.Writer, g *synth.Generator, o options) error {
	dir := filepath.Join(o.dir, "index")
	x, err := index.Open(dir, index.Options{BlockBytes: o.blockSize, CacheBytes: o.cacheBytes})
	if err != nil {
		return err
	}
	defer x.Close()
	start := time.Now()
	err = chunks(g, func(k int, lines [][]byte) error {
		_, err := x.Add(lines)
		return err
	})
	if err != nil {
		return err
	}
	built := time.Since(start)
	fmt.Fprintf(out, "kansa index: built %d events in %s (%.0f events/s), %.1f bytes/event\n", o.n, built.Round(time.Millisecond),
		float64(o.n)/built.Seconds(), float64(dirSize(o.dir))/float64(o.n))
	ctx := context.Background()
	lookup := func(k synth.Key) (int, error) {
		key := index.Key{Type: k.Type, ID: k.ID, Tenant: "default"}
		switch k.Kind {
		case "actor":
			key.Kind = index.Actor
		case "target":
			key.Kind = index.Target
		case "request":
			key.Kind = index.RequestID
		}
		res, err := x.Search(ctx, index.Request{Keys: []index.Key{key}, Limit: 100})
		return len(res.Events), err
	}
	for _, kind := range []string{"target", "actor", "request"} {
		keys := g.Keys(kind, o.lookups, 9)
		if err := latencies(out, kind, keys, lookup); err != nil {
			return err
		}
	}
	return nil
}
