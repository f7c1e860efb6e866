//go:build cgo

// Command indexeval measures candidate engines for kansa's search index on
// the synthetic workload of internal/synth: build speed, size on disk, and
// the latency of the lookups support staff make (a record's history, an
// actor's history, a request's events: first page of 100, newest first)
// and of a dashboard aggregation (count by action per day).
//
//	go run ./bench/indexeval -engine duckdb -n 10000000 -dir /tmp/ie
//	go run ./bench/indexeval -engine kansa -block-size 0 -n 100000000 -archive -dir /work/ie
//	go run ./bench/indexeval -engine ndjson -n 2000000 > events.ndjson   # the workload, for kansa route or serve
package main

import (
	"bufio"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/synth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "indexeval:", err)
		os.Exit(1)
	}
}

type options struct {
	engine  string
	n       uint64
	dir     string
	lookups int
	index   bool
	// pebble
	blockSize  int
	cacheBytes int64
	maxOpen    int
	// kansa
	build       string
	reuse       bool
	cold        int
	ingestRate  int
	archive     bool
	member      int
	workers     int
	buildMemory int
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("indexeval", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.engine, "engine", "duckdb", "duckdb, pebble or kansa (internal/index); ndjson writes the workload's events to stdout instead")
	fs.Uint64Var(&o.n, "n", 1_000_000, "events")
	fs.StringVar(&o.dir, "dir", "", "directory for the engine's files (required; emptied)")
	fs.IntVar(&o.lookups, "lookups", 1000, "lookups of each kind")
	fs.BoolVar(&o.index, "index", true, "duckdb: create ART indexes on the lookup keys")
	fs.IntVar(&o.blockSize, "block-size", 4<<10, "pebble: data block size (kansa: 0 for the index's default)")
	fs.Int64Var(&o.cacheBytes, "cache", 0, "kansa: block cache bytes (0: the index's default)")
	fs.IntVar(&o.maxOpen, "max-open-files", 0, "kansa: tables kept open (0: the index's default)")
	fs.StringVar(&o.build, "build", "bulk", "kansa: bulk (index.Builder, as kansa reindex), add (Index.Add in chunks, as the index sink), or ref (the workload written as an archive of gzip members of -member-bytes, beside -dir in indexeval-archive-N-BYTES and kept for the next run, then index.Builder.AddFile over it, as kansa reindex: events kept by reference)")
	fs.IntVar(&o.workers, "build-workers", 0, "kansa -build bulk|ref: the Builder's workers (0: its default, one per core)")
	fs.IntVar(&o.buildMemory, "build-memory", 0, "kansa -build bulk|ref: the Builder's memory for postings before a spill (0: its default)")
	fs.IntVar(&o.member, "member-bytes", 64<<10, "kansa -build ref: NDJSON bytes per gzip member of the archive")
	fs.BoolVar(&o.reuse, "reuse", false, "kansa: keep -dir and query the index (and archive) built by an earlier run with the same -n")
	fs.IntVar(&o.cold, "cold", 100, "kansa: lookups of each kind after dropping the page cache (needs root; 0: none)")
	fs.IntVar(&o.ingestRate, "ingest-rate", 20000, "kansa: events/s added while the lookups run again (0: skip)")
	fs.BoolVar(&o.archive, "archive", false, "kansa: also write the workload as gzip NDJSON files (level 1, the archive's default) and time a full scan of them")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.engine == "ndjson" {
		return writeNDJSON(out, synth.New(synth.Config{Seed: 1, Events: o.n}))
	}
	if o.dir == "" {
		return errors.New("-dir is required")
	}
	if !o.reuse {
		os.RemoveAll(o.dir)
	}
	if err := os.MkdirAll(o.dir, 0o755); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	g := synth.New(synth.Config{Seed: 1, Events: o.n})
	switch o.engine {
	case "duckdb":
		return evalDuckDB(out, g, o)
	case "pebble":
		return evalPebble(out, g, o)
	case "kansa":
		return evalKansa(out, g, o)
	}
	return fmt.Errorf("unknown engine %q", o.engine)
}

// chunks makes the workload's chunks in parallel and hands them to fn in
// order.
func chunks(g *synth.Generator, fn func(k int, lines [][]byte) error) error {
	type res struct{ lines [][]byte }
	n := g.Chunks()
	work := runtime.GOMAXPROCS(0)
	outs := make([]chan [][]byte, n)
	for i := range outs {
		outs[i] = make(chan [][]byte, 1)
	}
	sem := make(chan struct{}, work+1)
	go func() {
		for k := range n {
			sem <- struct{}{}
			go func() { outs[k] <- g.Chunk(nil, k) }()
		}
	}()
	for k := range n {
		lines := <-outs[k]
		<-sem
		if err := fn(k, lines); err != nil {
			return err
		}
	}
	return nil
}

func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// latencies runs q for each key and reports p50, p99 and max.
func latencies(out io.Writer, name string, keys []synth.Key, q func(synth.Key) (int, error)) error {
	d := make([]time.Duration, 0, len(keys))
	rows := 0
	for _, k := range keys {
		t0 := time.Now()
		n, err := q(k)
		if err != nil {
			return fmt.Errorf("%s %v: %w", name, k, err)
		}
		d = append(d, time.Since(t0))
		rows += n
	}
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))] }
	fmt.Fprintf(out, "%-18s n=%d  p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  rows/lookup %.1f\n", name, len(d),
		ms(p(.5)), ms(p(.99)), ms(d[len(d)-1]), float64(rows)/float64(len(d)))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func evalDuckDB(out io.Writer, g *synth.Generator, o options) error {
	ctx := context.Background()
	path := filepath.Join(o.dir, "index.duckdb")
	connector, err := duckdb.NewConnector(path, nil)
	if err != nil {
		return err
	}
	db := sql.OpenDB(connector)
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE events (
		id VARCHAR, time TIMESTAMPTZ, action VARCHAR, outcome VARCHAR,
		actor_type VARCHAR, actor_id VARCHAR, target_type VARCHAR, target_id VARCHAR,
		tenant VARCHAR, source VARCHAR, request_id VARCHAR, ip VARCHAR, user_agent VARCHAR,
		endpoint VARCHAR, host VARCHAR, changes VARCHAR, received_at TIMESTAMPTZ)`); err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	start := time.Now()
	err = conn.Raw(func(dc any) error {
		app, err := duckdb.NewAppenderFromConn(dc.(driver.Conn), "", "events")
		if err != nil {
			return err
		}
		var mu sync.Mutex
		err = chunks(g, func(k int, lines [][]byte) error {
			mu.Lock()
			defer mu.Unlock()
			for _, l := range lines {
				e, err := event.DecodeAliased(l)
				if err != nil {
					return err
				}
				if err := app.AppendRow(e.ID, e.Time, e.Action, e.Outcome, e.Actor.Type, e.Actor.ID, e.Target.Type, e.Target.ID,
					e.Tenant, e.Source, e.Context.RequestID, e.Context.IP, e.Context.UserAgent, e.Context.Endpoint, e.Context.Host,
					string(e.Changes), e.ReceivedAt); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return app.Close()
	})
	conn.Close()
	if err != nil {
		return err
	}
	loaded := time.Since(start)
	if _, err := db.Exec(`CHECKPOINT`); err != nil {
		return err
	}
	fmt.Fprintf(out, "duckdb: loaded %d events in %s (%.0f events/s), %.1f bytes/event\n", o.n, loaded.Round(time.Millisecond),
		float64(o.n)/loaded.Seconds(), float64(dirSize(o.dir))/float64(o.n))
	if o.index {
		t0 := time.Now()
		for _, q := range []string{
			`CREATE INDEX by_target ON events (target_type, target_id)`,
			`CREATE INDEX by_actor ON events (actor_type, actor_id)`,
			`CREATE INDEX by_request ON events (request_id)`,
			`CHECKPOINT`,
		} {
			if _, err := db.Exec(q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		d := time.Since(t0)
		fmt.Fprintf(out, "duckdb: indexes built in %s (%.0f events/s over load+index), %.1f bytes/event with them\n",
			d.Round(time.Millisecond), float64(o.n)/(loaded+d).Seconds(), float64(dirSize(o.dir))/float64(o.n))
	}
	history := func(where string) func(synth.Key) (int, error) {
		stmt, err := db.Prepare(`SELECT id, time, action, actor_type, actor_id, target_type, target_id, request_id, ip, user_agent, endpoint, changes FROM events WHERE ` + where + ` ORDER BY time DESC LIMIT 100`)
		if err != nil {
			panic(err)
		}
		return func(k synth.Key) (int, error) {
			var rows *sql.Rows
			var err error
			if k.Kind == "request" {
				rows, err = stmt.Query(k.ID)
			} else {
				rows, err = stmt.Query(k.Type, k.ID)
			}
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			var s [12]any
			var p [12]any
			for i := range s {
				p[i] = &s[i]
			}
			for rows.Next() {
				if err := rows.Scan(p[:]...); err != nil {
					return n, err
				}
				n++
			}
			return n, rows.Err()
		}
	}
	for _, c := range []struct{ kind, where string }{
		{"target", "target_type = ? AND target_id = ?"},
		{"actor", "actor_type = ? AND actor_id = ?"},
		{"request", "request_id = ?"},
	} {
		keys := g.Keys(c.kind, o.lookups, 9)
		q := history(c.where)
		if err := latencies(out, c.kind+" (cold-ish)", keys[:min(20, len(keys))], q); err != nil {
			return err
		}
		if err := latencies(out, c.kind, keys, q); err != nil {
			return err
		}
	}
	for range 3 {
		t0 := time.Now()
		rows, err := db.Query(`SELECT CAST(time AS DATE) AS day, action, count(*) FROM events GROUP BY ALL`)
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		fmt.Fprintf(out, "count by action per day: %d groups in %.1f ms\n", n, ms(time.Since(t0)))
	}
	return nil
}

// writeNDJSON writes the workload's events, one per line, in order.
func writeNDJSON(out io.Writer, g *synth.Generator) error {
	bw := bufio.NewWriterSize(out, 1<<20)
	err := chunks(g, func(k int, lines [][]byte) error {
		for _, l := range lines {
			bw.Write(l)
			if err := bw.WriteByte('\n'); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
