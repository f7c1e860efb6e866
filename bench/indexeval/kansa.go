//go:build cgo

package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/synth"
)

// evalKansa measures internal/index itself: a build (the Builder of
// kansa reindex, or Add in chunks as the index sink does), then the
// lookups through Search warm, again while events are added at
// -ingest-rate, and cold after dropping the page cache; the per-day
// counters; and, with -archive, a full scan of the same events as gzip
// NDJSON, what search does without an index.
func evalKansa(out io.Writer, g *synth.Generator, o options) error {
	ctx := context.Background()
	dir := filepath.Join(o.dir, "index")
	opts := index.Options{BlockBytes: o.blockSize, CacheBytes: o.cacheBytes, MaxOpenFiles: o.maxOpen}
	var archiveBytes int64
	if o.build == "ref" {
		// Kept across runs of the same -n and -member-bytes, so that the
		// builds of two binaries can read one archive.
		adir := filepath.Join(filepath.Dir(filepath.Clean(o.dir)), fmt.Sprintf("indexeval-archive-%d-%d", o.n, o.member))
		if _, err := os.Stat(adir); err != nil {
			// Written aside and renamed, so that a run cut short leaves none.
			os.RemoveAll(adir + ".tmp")
			if err := os.MkdirAll(adir+".tmp", 0o755); err != nil {
				return err
			}
			if err := writeMemberArchive(out, g, o, adir+".tmp"); err != nil {
				return err
			}
			if err := os.Rename(adir+".tmp", adir); err != nil {
				return err
			}
		} else {
			fmt.Fprintf(out, "archive of %d-byte gzip members: reusing %s\n", o.member, adir)
		}
		store, err := objstore.NewDir(adir)
		if err != nil {
			return err
		}
		opts.Archive = store
		opts.LineCacheBytes = o.cacheBytes
		archiveBytes = dirSize(adir)
	}
	if !o.reuse {
		if err := buildKansa(out, g, o, dir, opts); err != nil {
			return err
		}
	}
	x, err := index.Open(dir, opts)
	if err != nil {
		return err
	}
	defer func() { x.Close() }()
	u, err := x.Usage()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "index: %.1f bytes/event on disk;", float64(dirSize(dir))/float64(o.n))
	for _, k := range []string{"e", "a", "t", "r", "T", "c", "f"} {
		fmt.Fprintf(out, " %s %.1f", k, float64(u[k])/float64(o.n))
	}
	fmt.Fprintln(out)
	if archiveBytes > 0 {
		fmt.Fprintf(out, "archive %.1f + index %.1f = %.1f bytes/event\n", float64(archiveBytes)/float64(o.n),
			float64(dirSize(dir))/float64(o.n), float64(archiveBytes+dirSize(dir))/float64(o.n))
	}

	lookup := func(x *index.Index) func(k synth.Key) (int, error) {
		return func(k synth.Key) (int, error) {
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
	}
	kinds := []string{"target", "actor", "request"}
	keys := map[string][]synth.Key{}
	for _, kind := range kinds {
		keys[kind] = g.Keys(kind, o.lookups, 9)
	}
	warm := func(label string) error {
		for _, kind := range kinds {
			for _, k := range keys[kind] { // untimed: fill the caches
				if _, err := lookup(x)(k); err != nil {
					return err
				}
			}
			if err := latencies(out, label+kind, keys[kind], lookup(x)); err != nil {
				return err
			}
		}
		for range 3 {
			t0 := time.Now()
			c, err := x.Counts(ctx, "default", index.ByAction, time.Time{}, time.Time{})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%scount by action per day: %d rows in %.1f ms\n", label, len(c), ms(time.Since(t0)))
		}
		return nil
	}
	fmt.Fprintln(out, "warm (each key looked up once untimed first):")
	if err := warm("  "); err != nil {
		return err
	}

	if o.ingestRate > 0 {
		fmt.Fprintf(out, "warm while adding %d events/s:\n", o.ingestRate)
		stop := make(chan struct{})
		var added atomic.Uint64
		errc := make(chan error, 1)
		t0 := time.Now()
		go func() { errc <- ingest(x, g, o.ingestRate, stop, &added) }()
		// Two seconds of ingest before the lookups start.
		for added.Load() < uint64(2*o.ingestRate) && len(errc) == 0 {
			time.Sleep(10 * time.Millisecond)
		}
		t1, a1 := time.Now(), added.Load()
		werr := warm("  ")
		d, n := time.Since(t1), added.Load()-a1
		close(stop)
		ierr := <-errc
		if err := errors.Join(werr, ierr); err != nil {
			return err
		}
		fmt.Fprintf(out, "  added %d events in all (%s); %d while the lookups ran, %s: %.0f events/s\n",
			added.Load(), time.Since(t0).Round(time.Millisecond), n, d.Round(time.Millisecond), float64(n)/d.Seconds())
	}

	if o.cold > 0 {
		fmt.Fprintln(out, "cold (index closed, page cache dropped and index opened before each lookup; the lookup alone timed):")
		if err := x.Close(); err != nil {
			return err
		}
		for _, kind := range kinds {
			d := make([]time.Duration, 0, o.cold)
			for _, k := range g.Keys(kind, o.cold, 11) {
				if err := dropCaches(); err != nil {
					return err
				}
				y, err := index.Open(dir, opts)
				if err != nil {
					return err
				}
				t0 := time.Now()
				_, err = lookup(y)(k)
				d = append(d, time.Since(t0))
				y.Close()
				if err != nil {
					return err
				}
			}
			slices.Sort(d)
			fmt.Fprintf(out, "  %-16s n=%d  p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms\n", kind, len(d),
				ms(d[len(d)/2]), ms(d[min(len(d)-1, len(d)*99/100)]), ms(d[len(d)-1]))
		}
		fmt.Fprintln(out, "cold once (page cache dropped once, index opened, then the lookups one after another, as bench/pgaudited does):")
		for _, kind := range kinds {
			if err := dropCaches(); err != nil {
				return err
			}
			y, err := index.Open(dir, opts)
			if err != nil {
				return err
			}
			err = latencies(out, "  "+kind, g.Keys(kind, o.cold, 12), lookup(y))
			y.Close()
			if err != nil {
				return err
			}
		}
		if x, err = index.Open(dir, opts); err != nil {
			return err
		}
	}

	if o.archive {
		return evalArchiveScan(out, g, o)
	}
	return nil
}

func buildKansa(out io.Writer, g *synth.Generator, o options, dir string, opts index.Options) error {
	start := time.Now()
	switch o.build {
	case "bulk", "ref":
		b, err := index.NewBuilder(dir, opts, index.BuildOptions{References: o.build == "ref", Workers: o.workers, MemoryBytes: o.buildMemory})
		if err != nil {
			return err
		}
		if o.build == "bulk" {
			err = chunks(g, func(k int, lines [][]byte) error { return b.Add(lines) })
		} else {
			keys := make([]string, g.Chunks())
			for k := range keys {
				keys[k] = memberFile(k)
			}
			// Read ahead as kansa reindex does.
			err = objstore.GetEach(context.Background(), opts.Archive, keys, 4, b.AddFile)
		}
		if err != nil {
			b.Abort()
			return err
		}
		given := time.Since(start)
		if err := b.Finish(context.Background()); err != nil {
			return err
		}
		built := time.Since(start)
		how := "bulk-built"
		if o.build == "ref" {
			how = "built from the archive"
		}
		fmt.Fprintf(out, "kansa index: %s %d events in %s (%.0f events/s; %d by reference); Finish took %s of it\n",
			how, o.n, built.Round(time.Millisecond), float64(o.n)/built.Seconds(), b.ByReference(), (built - given).Round(time.Millisecond))
		for _, p := range b.Phases() {
			fmt.Fprintf(out, "  Finish: %s took %s\n", p.Name, p.Took.Round(time.Millisecond))
		}
	case "add":
		x, err := index.Open(dir, opts)
		if err != nil {
			return err
		}
		defer x.Close()
		err = chunks(g, func(k int, lines [][]byte) error {
			_, err := x.Add(lines)
			return err
		})
		if err != nil {
			return err
		}
		built := time.Since(start)
		fmt.Fprintf(out, "kansa index: added %d events in %s (%.0f events/s), %.1f bytes/event\n", o.n, built.Round(time.Millisecond),
			float64(o.n)/built.Seconds(), float64(dirSize(dir))/float64(o.n))
		cstart := time.Now()
		if err := x.Compact(); err != nil {
			return err
		}
		fmt.Fprintf(out, "compacted in %s\n", time.Since(cstart).Round(time.Millisecond))
	default:
		return fmt.Errorf("-build %q: bulk or add", o.build)
	}
	return nil
}

// ingest adds events of a second workload, timed after the first one, at
// rate events/s until stop is closed: every 50 ms it adds what is due by
// then (catching up after a slow add, in adds of at most rate/20 events,
// each synced as the index sink's are). The events are made ahead on
// another goroutine.
func ingest(x *index.Index, g *synth.Generator, rate int, stop <-chan struct{}, added *atomic.Uint64) error {
	cfg := g.Config()
	more := synth.New(synth.Config{Seed: 7, Events: 100_000_000, Start: cfg.Start.AddDate(0, 0, cfg.Days), Days: cfg.Days})
	made := make(chan [][]byte, 1)
	go func() {
		for k := 0; k < more.Chunks(); k++ {
			select {
			case made <- more.Chunk(nil, k):
			case <-stop:
				return
			}
		}
	}()
	lines, next := <-made, 0
	step := max(1, rate/20)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		due := int64(time.Since(start).Seconds()*float64(rate)) - int64(added.Load())
		for due > 0 {
			if next == len(lines) {
				lines, next = <-made, 0
			}
			n := min(int(due), step, len(lines)-next)
			if _, err := x.Add(lines[next : next+n]); err != nil {
				return err
			}
			next += n
			due -= int64(n)
			added.Add(uint64(n))
		}
	}
}

func memberFile(k int) string { return fmt.Sprintf("chunk-%06d.ndjson.gz", k) }

// writeMemberArchive writes the workload as gzip NDJSON files of one chunk
// each, in members of -member-bytes at gzip level 1, as the archive writes
// them with archive.member_bytes.
func writeMemberArchive(out io.Writer, g *synth.Generator, o options, dir string) error {
	t0 := time.Now()
	err := eachChunk(g, func(k int) error {
		var file, seg bytes.Buffer
		zw, _ := kgzip.NewWriterLevel(&file, kgzip.BestSpeed)
		flush := func() {
			if seg.Len() > 0 {
				zw.Reset(&file)
				zw.Write(seg.Bytes())
				zw.Close()
				seg.Reset()
			}
		}
		for _, l := range g.Chunk(nil, k) {
			if seg.Len() > 0 && seg.Len()+len(l)+1 > o.member {
				flush()
			}
			seg.Write(l)
			seg.WriteByte('\n')
		}
		flush()
		return os.WriteFile(filepath.Join(dir, memberFile(k)), file.Bytes(), 0o644)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "archive of %d-byte gzip members: wrote %d events in %s, %.1f bytes/event\n", o.member, o.n,
		time.Since(t0).Round(time.Millisecond), float64(dirSize(dir))/float64(o.n))
	return nil
}

// eachChunk calls fn for every chunk of g, one goroutine per core, and
// joins their errors.
func eachChunk(g *synth.Generator, fn func(k int) error) error {
	var mu sync.Mutex
	var werr error
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for k := range g.Chunks() {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(k); err != nil {
				mu.Lock()
				werr = errors.Join(werr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return werr
}

// dropCaches writes the page cache's dirty pages and drops it.
func dropCaches() error {
	if err := syncAll(); err != nil {
		return err
	}
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return fmt.Errorf("drop the page cache (-cold needs root; -cold 0 skips it): %w", err)
	}
	return nil
}

// evalArchiveScan writes the workload as gzip NDJSON files of one chunk
// each (unless -reuse finds them) and times a full scan that decodes each
// event and tests it, as search does without an index.
func evalArchiveScan(out io.Writer, g *synth.Generator, o options) error {
	dir := filepath.Join(o.dir, "archive")
	if !o.reuse {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		t0 := time.Now()
		err := eachChunk(g, func(k int) error {
			return writeGzipChunk(filepath.Join(dir, fmt.Sprintf("%06d.ndjson.gz", k)), g.Chunk(nil, k))
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "gzip NDJSON archive: wrote %d events in %s, %.1f bytes/event\n", o.n, time.Since(t0).Round(time.Millisecond),
			float64(dirSize(dir))/float64(o.n))
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.ndjson.gz"))
	if err != nil {
		return err
	}
	if err := dropCaches(); err != nil {
		fmt.Fprintf(out, "(page cache not dropped: %v)\n", err)
	}
	want := g.Keys("actor", 1, 13)[0]
	t0 := time.Now()
	var scanned, matched atomic.Uint64
	jobs := make(chan string)
	errc := make(chan error, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			var dec event.Decoder
			for path := range jobs {
				n, m, err := scanGzip(path, &dec, want)
				if err != nil {
					errc <- err
					return
				}
				scanned.Add(n)
				matched.Add(m)
			}
		})
	}
	for _, f := range files {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	d := time.Since(t0)
	fmt.Fprintf(out, "gzip NDJSON full scan (cold, %d workers): %d events in %s (%.0f events/s), %d of actor %s:%s\n",
		runtime.GOMAXPROCS(0), scanned.Load(), d.Round(time.Millisecond), float64(scanned.Load())/d.Seconds(), matched.Load(), want.Type, want.ID)
	return nil
}

func writeGzipChunk(path string, lines [][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestSpeed)
	if err != nil {
		f.Close()
		return err
	}
	bw := bufio.NewWriterSize(zw, 1<<20)
	for _, l := range lines {
		bw.Write(l)
		bw.WriteByte('\n')
	}
	err = errors.Join(bw.Flush(), zw.Close(), f.Close())
	return err
}

func scanGzip(path string, dec *event.Decoder, want synth.Key) (n, m uint64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, 0, err
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<24)
	for sc.Scan() {
		e, err := dec.Decode(sc.Bytes())
		if err != nil {
			return n, m, fmt.Errorf("%s: %w", path, err)
		}
		n++
		if e.Actor != nil && e.Actor.Type == want.Type && e.Actor.ID == want.ID {
			m++
		}
	}
	return n, m, sc.Err()
}
