package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/wal"
)

func appendEvents(t *testing.T, w *wal.WAL, from, n int) uint64 {
	t.Helper()
	var recs [][]byte
	for i := from; i < from+n; i++ {
		body := fmt.Sprintf(`{"id":"e%d","seq":{"stream":"s","n":%d}}`, i, i)
		recs = append(recs, record.AppendEntry(nil, record.TypeEvent, time.Date(2024, 8, 6, 0, 0, i, 0, time.UTC), "acme", "test", "s", uint64(i), []byte(body)))
	}
	_, last, err := w.Append(recs)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	return last
}

// archived returns every archived event line, checking manifests agree.
func archived(t *testing.T, store objstore.Store) []string {
	t.Helper()
	ctx := context.Background()
	var lines []string
	err := archive.Manifests(ctx, store, func(m *archive.Manifest) error {
		for _, f := range m.Files {
			if err := archive.ReadLines(ctx, store, f.Key, func(l []byte) error { lines = append(lines, string(l)); return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

type env struct {
	dir   string
	w     *wal.WAL
	store *objstore.Dir
	aw    *archive.Writer
}

func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	w, err := wal.Open(dir+"/wal", wal.Options{SegmentSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	store, err := objstore.NewDir(dir + "/archive")
	if err != nil {
		t.Fatal(err)
	}
	aw, err := archive.NewWriter(archive.Config{}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	return &env{dir: dir, w: w, store: store, aw: aw}
}

func start(t *testing.T, e *env, cfg Config, dst Deliverer) (*Batcher, chan error, context.CancelFunc) {
	t.Helper()
	b, err := New(cfg, Deps{Name: "archive", WAL: e.w, Dst: dst, StateDir: e.dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	return b, done, cancel
}

func TestSizeCutAndStop(t *testing.T) {
	e := newEnv(t, t.TempDir())
	b, done, cancel := start(t, e, Config{MaxBytes: 1000, MaxInterval: time.Hour}, e.aw)
	defer cancel()
	last := appendEvents(t, e.w, 0, 100)
	// 100 records of ~80 bytes: at least 7 batches by size alone.
	if err := b.WaitDelivered(context.Background(), last-20); err != nil {
		t.Fatal(err)
	}
	last = appendEvents(t, e.w, 100, 5)
	b.Stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b.Delivered() < last {
		t.Fatalf("delivered %d, want %d after Stop", b.Delivered(), last)
	}
	lines := archived(t, e.store)
	if len(lines) != 105 {
		t.Fatalf("archived %d events, want 105", len(lines))
	}
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Fatalf("duplicate %s", l)
		}
		seen[l] = true
	}
	var manifests int
	archive.Manifests(context.Background(), e.store, func(m *archive.Manifest) error { manifests++; return nil })
	if manifests < 7 {
		t.Fatalf("%d batches, want at least 7", manifests)
	}
}

func TestIntervalCut(t *testing.T) {
	e := newEnv(t, t.TempDir())
	b, done, cancel := start(t, e, Config{MaxBytes: 1 << 30, MaxInterval: 20 * time.Millisecond}, e.aw)
	defer cancel()
	last := appendEvents(t, e.w, 0, 3)
	ctx, c2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer c2()
	if err := b.WaitDelivered(ctx, last); err != nil {
		t.Fatalf("batch not cut by interval: %v", err)
	}
	cancel()
	<-done
}

// failing computes what it was asked to write, into its own store, then fails
// as if the process died before the upload finished.
type failing struct {
	aw    *archive.Writer
	calls atomic.Int32
	wrote chan struct{} // receives after each attempt
}

func (f *failing) Write(ctx context.Context, b *archive.Batch) (*archive.Manifest, error) {
	_, err := f.aw.Write(ctx, b)
	if f.calls.Add(1) == 1 {
		close(f.wrote)
	}
	if err != nil {
		return nil, err
	}
	return nil, errors.New("simulated crash during upload")
}

func TestRebuildAfterCrashSameKeysAndBytes(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	shadowStore, _ := objstore.NewDir(t.TempDir())
	shadow, _ := archive.NewWriter(archive.Config{}, shadowStore, "w1")
	f := &failing{aw: shadow, wrote: make(chan struct{})}
	_, done, cancel := start(t, e, Config{MaxBytes: 1 << 30, MaxInterval: 10 * time.Millisecond}, f)
	appendEvents(t, e.w, 0, 50)
	<-f.wrote // the first attempt ran: the batch boundary is in the WAL
	cancel()
	<-done
	// More events arrive after the crash, with a different batch timing.
	e.w.Close()
	e2 := newEnv(t, dir)
	appendEvents(t, e2.w, 50, 10)
	b2, done2, cancel2 := start(t, e2, Config{MaxBytes: 1 << 30, MaxInterval: time.Hour}, e2.aw)
	defer cancel2()
	b2.Stop()
	if err := <-done2; err != nil {
		t.Fatal(err)
	}
	// Every object the crashed attempt would have written exists with the
	// same key and bytes.
	n := 0
	shadowStore.List(context.Background(), "", func(k string, _ int64) error {
		n++
		want, _ := shadowStore.Get(context.Background(), k)
		got, err := e2.store.Get(context.Background(), k)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("rebuilt object %s differs (%v)", k, err)
		}
		return nil
	})
	if n < 2 {
		t.Fatalf("shadow wrote %d objects", n)
	}
	if lines := archived(t, e2.store); len(lines) != 60 {
		t.Fatalf("archived %d events, want 60", len(lines))
	}
}

// gated is a Deliverer whose every Write waits for a token on release; it
// notes how many Writes overlap and the ranges in the order written.
type gated struct {
	release chan struct{}
	started chan archive.Batch
	// delivered, if set, is read as each Write starts, into deliveredAt.
	delivered   func() uint64
	deliveredAt []uint64
	mu          sync.Mutex
	active      int
	overlap     bool
}

func (g *gated) Write(ctx context.Context, b *archive.Batch) (*archive.Manifest, error) {
	g.mu.Lock()
	g.active++
	g.overlap = g.overlap || g.active > 1
	if g.delivered != nil {
		g.deliveredAt = append(g.deliveredAt, g.delivered())
	}
	g.mu.Unlock()
	defer func() { g.mu.Lock(); g.active--; g.mu.Unlock() }()
	g.started <- *b
	select {
	case <-g.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &archive.Manifest{Events: len(b.Entries)}, nil
}

// While one batch is delivered the next fills; deliveries never overlap,
// come in WAL order, and each is checkpointed before the next starts.
func TestOneBatchInFlight(t *testing.T) {
	e := newEnv(t, t.TempDir())
	g := &gated{release: make(chan struct{}), started: make(chan archive.Batch, 100)}
	b, done, cancel := start(t, e, Config{MaxBytes: 500, MaxInterval: time.Hour}, g)
	defer cancel()
	g.mu.Lock()
	g.delivered = b.Delivered
	g.mu.Unlock()
	appendEvents(t, e.w, 0, 60)
	first := <-g.started
	// The first batch is stuck in delivery: more records arrive and fill
	// the next batch, but nothing else is handed over.
	last := appendEvents(t, e.w, 60, 60)
	select {
	case bt := <-g.started:
		t.Fatalf("batch %d-%d handed over while %d-%d was being delivered", bt.First, bt.Last, first.First, first.Last)
	default:
	}
	if b.Delivered() != 0 {
		t.Fatalf("delivered %d before the first Write returned", b.Delivered())
	}
	batches := []archive.Batch{first}
	events := len(first.Entries)
	b.Stop() // the last batch is cut once Run has caught up
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		for {
			select {
			case g.release <- struct{}{}:
			case <-quit:
				return
			}
		}
	}()
	for events < 120 {
		bt := <-g.started
		batches = append(batches, bt)
		events += len(bt.Entries)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b.Delivered() < last {
		t.Fatalf("delivered %d after Stop, want %d", b.Delivered(), last)
	}
	if g.overlap {
		t.Fatal("two Writes ran at once")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, bt := range batches {
		if i == 0 {
			continue
		}
		prev := batches[i-1]
		if bt.First <= prev.Last {
			t.Fatalf("batch %d-%d after %d-%d", bt.First, bt.Last, prev.First, prev.Last)
		}
		if got := g.deliveredAt[i]; got != prev.Last {
			t.Fatalf("batch %d-%d started with %d delivered, want %d", bt.First, bt.Last, got, prev.Last)
		}
	}
	if events != 120 {
		t.Fatalf("%d events delivered, want 120", events)
	}
}

// A delivery that fails for good ends Run with its error, even while Run
// is waiting for records.
func TestFailedDeliveryEndsRun(t *testing.T) {
	e := newEnv(t, t.TempDir())
	g := &gated{release: make(chan struct{}), started: make(chan archive.Batch, 10)}
	_, done, cancel := start(t, e, Config{MaxBytes: 1 << 30, MaxInterval: 10 * time.Millisecond}, g)
	defer cancel()
	appendEvents(t, e.w, 0, 5)
	<-g.started
	// The checkpoint cannot be saved: its path is a directory.
	if err := os.Mkdir(filepath.Join(e.dir, "archive.checkpoint"), 0o755); err != nil {
		t.Fatal(err)
	}
	g.release <- struct{}{}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "save checkpoint") {
			t.Fatalf("Run returned %v, want the checkpoint's error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still waiting for records after its delivery failed")
	}
}
