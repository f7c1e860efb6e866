package wal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/kansa-audit/kansa/internal/wal"
)

// payload is the deterministic content of record i: varying lengths,
// including empty.
func payload(i uint64) []byte {
	n := int(i*37%97) + 0
	if i%50 == 0 {
		n = 0
	}
	b := make([]byte, 0, n+24)
	b = fmt.Appendf(b, "rec-%d:", i)
	for len(b) < n {
		b = append(b, byte('a'+i%26))
	}
	if n == 0 {
		return []byte{}
	}
	return b
}

func open(t testing.TB, dir string, opts wal.Options) *wal.WAL {
	t.Helper()
	w, err := wal.Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// appendN appends records from..to one group at a time of up to group
// records, then syncs them.
func appendRange(t testing.TB, w *wal.WAL, from, to uint64, group int) {
	t.Helper()
	for i := from; i <= to; {
		var recs [][]byte
		for j := 0; j < group && i <= to; j++ {
			recs = append(recs, payload(i))
			i++
		}
		first, last, err := w.Append(recs)
		if err != nil {
			t.Fatalf("Append: %v", err)
		}
		if want := i - uint64(len(recs)); first != want || last != i-1 {
			t.Fatalf("Append got [%d,%d], want [%d,%d]", first, last, want, i-1)
		}
	}
	if err := w.Sync(context.Background(), to); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

// checkScan asserts that Scan(from) yields exactly payload(from..to).
func checkScan(t testing.TB, w *wal.WAL, from, to uint64) {
	t.Helper()
	next := from
	err := w.Scan(from, func(idx uint64, rec []byte) error {
		if idx != next {
			return fmt.Errorf("got index %d, want %d", idx, next)
		}
		if !bytes.Equal(rec, payload(idx)) {
			return fmt.Errorf("record %d: got %q, want %q", idx, rec, payload(idx))
		}
		next++
		return nil
	})
	if err != nil {
		t.Fatalf("Scan(%d): %v", from, err)
	}
	if next != to+1 {
		t.Fatalf("Scan(%d) ended before %d, want through %d", from, next, to)
	}
}

func segments(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func TestRoundTripManySegments(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, wal.Options{SegmentSize: 512})
	if w.Last() != 0 || w.Synced() != 0 || w.First() != 1 {
		t.Fatalf("empty WAL: Last %d Synced %d First %d", w.Last(), w.Synced(), w.First())
	}
	const n = 2000
	appendRange(t, w, 1, n, 7)
	if w.Synced() != n || w.Last() != n || w.First() != 1 {
		t.Fatalf("Synced %d Last %d First %d", w.Synced(), w.Last(), w.First())
	}
	if got := len(segments(t, dir)); got < 100 {
		t.Fatalf("only %d segments; the test wants many rotations", got)
	}
	var onDisk int64
	for _, p := range segments(t, dir) {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > 512 {
			t.Errorf("%s has %d bytes, over SegmentSize", p, fi.Size())
		}
		onDisk += fi.Size()
	}
	if w.Size() != onDisk {
		t.Errorf("Size() = %d, files hold %d", w.Size(), onDisk)
	}
	for _, from := range []uint64{0, 1, 2, 999, n} {
		checkScan(t, w, max(from, 1), n)
	}
	// Readers from several starting points.
	for _, from := range []uint64{1, 500, n} {
		r := w.NewReader(from)
		for i := from; i <= n; i++ {
			idx, rec, err := r.Next(context.Background())
			if err != nil || idx != i || !bytes.Equal(rec, payload(i)) {
				t.Fatalf("Reader(%d).Next: %d %q %v, want %d", from, idx, rec, err, i)
			}
		}
		r.Close()
		if _, _, err := r.Next(context.Background()); !errors.Is(err, wal.ErrClosed) {
			t.Fatalf("Next after Reader.Close: %v", err)
		}
	}
	// A record bigger than SegmentSize gets a segment of its own.
	big := bytes.Repeat([]byte("x"), 2000)
	first, _, err := w.Append([][]byte{big, []byte("after")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(context.Background(), first+1); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, wal.SegmentName(first)))
	if err != nil {
		t.Fatalf("oversized record has no segment of its own: %v", err)
	}
	if want := int64(wal.HeaderSize + wal.FrameHeaderSize + len(big)); fi.Size() != want {
		t.Fatalf("oversized segment has %d bytes, want %d", fi.Size(), want)
	}
	var got [][]byte
	w.Scan(first, func(_ uint64, rec []byte) error { got = append(got, bytes.Clone(rec)); return nil })
	if len(got) != 2 || !bytes.Equal(got[0], big) || string(got[1]) != "after" {
		t.Fatalf("scan after oversized record: %d records", len(got))
	}
}

func TestEmptyAppend(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{})
	first, last, err := w.Append(nil)
	if first != 0 || last != 0 || err != nil || w.Last() != 0 {
		t.Fatalf("Append(nil) = %d, %d, %v; Last %d", first, last, err, w.Last())
	}
}

func TestScanStopsAtCallbackError(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{})
	appendRange(t, w, 1, 10, 10)
	stop := errors.New("stop")
	calls := 0
	err := w.Scan(1, func(idx uint64, _ []byte) error {
		calls++
		if idx == 4 {
			return stop
		}
		return nil
	})
	if err != stop || calls != 4 {
		t.Fatalf("Scan returned %v after %d calls, want stop after 4", err, calls)
	}
}

func TestRestartContinuesIndexes(t *testing.T) {
	dir := t.TempDir()
	opts := wal.Options{SegmentSize: 1024}
	w := open(t, dir, opts)
	appendRange(t, w, 1, 300, 3)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = open(t, dir, opts)
	if w.First() != 1 || w.Last() != 300 || w.Synced() != 300 {
		t.Fatalf("after restart: First %d Last %d Synced %d", w.First(), w.Last(), w.Synced())
	}
	appendRange(t, w, 301, 400, 1)
	checkScan(t, w, 1, 400)

	// Release part of the log: whole segments go, indexes stay.
	if err := w.Release(250); err != nil {
		t.Fatal(err)
	}
	first := w.First()
	if first <= 1 || first > 251 {
		t.Fatalf("First after Release(250) = %d", first)
	}
	checkScan(t, w, first, 400)
	var scanFrom uint64
	w.Scan(0, func(idx uint64, _ []byte) error { scanFrom = idx; return errors.New("stop") })
	if scanFrom != first {
		t.Fatalf("Scan(0) started at %d, want First() = %d", scanFrom, first)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = open(t, dir, opts)
	if w.First() != first || w.Last() != 400 {
		t.Fatalf("after restart: First %d (want %d) Last %d", w.First(), first, w.Last())
	}
	// Release everything: the active segment stays, so the next index survives.
	if err := w.Release(w.Last()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir, opts)
	if got, _, err := w.Append([][]byte{payload(401)}); err != nil || got != 401 {
		t.Fatalf("append after release-all and restart: index %d, %v; want 401", got, err)
	}
}

func TestReleaseEverythingThenRestart(t *testing.T) {
	// With MaxSize pressure Release rotates the active segment away, leaving
	// an empty segment whose header carries the next index.
	dir := t.TempDir()
	opts := wal.Options{MaxSize: 4096}
	w := open(t, dir, opts)
	rec := bytes.Repeat([]byte("r"), 100)
	var last uint64
	for {
		_, l, err := w.Append([][]byte{rec})
		if errors.Is(err, wal.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = l
	}
	if err := w.Sync(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	if err := w.Release(last); err != nil {
		t.Fatal(err)
	}
	if err := w.WaitSpace(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.First() != last+1 || w.Size() != wal.HeaderSize {
		t.Fatalf("after releasing everything: First %d (want %d), Size %d", w.First(), last+1, w.Size())
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = open(t, dir, opts)
	if w.First() != last+1 || w.Last() != last {
		t.Fatalf("restart: First %d Last %d, want %d %d", w.First(), w.Last(), last+1, last)
	}
	if got, _, err := w.Append([][]byte{rec}); err != nil || got != last+1 {
		t.Fatalf("Append: %d, %v; want %d", got, err, last+1)
	}
}

func TestMaxSizeFullThenRelease(t *testing.T) {
	dir := t.TempDir()
	w := open(t, dir, wal.Options{SegmentSize: 1024, MaxSize: 8192})
	rec := bytes.Repeat([]byte("m"), 200)
	var last uint64
	for {
		_, l, err := w.Append([][]byte{rec, rec})
		if errors.Is(err, wal.ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = l
	}
	if w.Last() != last {
		t.Fatalf("failed Append changed Last: %d, want %d", w.Last(), last)
	}
	if w.Size() > 8192 {
		t.Fatalf("Size %d over MaxSize", w.Size())
	}
	if _, _, err := w.Append([][]byte{bytes.Repeat([]byte("x"), 9000)}); !errors.Is(err, wal.ErrTooLarge) {
		t.Fatalf("Append of a record bigger than MaxSize: %v, want ErrTooLarge", err)
	}

	waited := make(chan error, 1)
	go func() { waited <- w.WaitSpace(context.Background()) }()

	// Releasing nothing (no durable records yet beyond 0) must not wake it.
	if err := w.Release(0); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		t.Fatalf("WaitSpace returned %v before anything was freed", err)
	default:
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.WaitSpace(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitSpace with cancelled ctx: %v", err)
	}

	if err := w.Sync(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	if err := w.Release(last / 2); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; err != nil {
		t.Fatalf("WaitSpace: %v", err)
	}
	if _, _, err := w.Append([][]byte{rec}); err != nil {
		t.Fatalf("Append after Release: %v", err)
	}
	if err := w.WaitSpace(context.Background()); err != nil {
		t.Fatalf("WaitSpace with no ErrFull outstanding: %v", err)
	}
}

func TestGroupCommitConcurrent(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{SegmentSize: 64 << 10})
	const goroutines, perG = 16, 200
	var mu sync.Mutex
	seen := make(map[uint64][]byte)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perG {
				rec := fmt.Appendf(nil, "g%d-i%d", g, i)
				first, last, err := w.Append([][]byte{rec})
				if err == nil && first != last {
					err = fmt.Errorf("one record got [%d,%d]", first, last)
				}
				if err == nil {
					err = w.Sync(context.Background(), last)
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[first] = rec
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	const n = goroutines * perG
	if len(seen) != n || w.Last() != n {
		t.Fatalf("%d distinct indexes, Last %d; want %d", len(seen), w.Last(), n)
	}
	err := w.Scan(1, func(idx uint64, rec []byte) error {
		if !bytes.Equal(seen[idx], rec) {
			return fmt.Errorf("record %d = %q, appended %q", idx, rec, seen[idx])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := w.Fsyncs()
	t.Logf("%d Sync calls, %d fsyncs", n, fs)
	if fs >= n {
		t.Fatalf("%d fsyncs for %d Sync calls: no group commit", fs, n)
	}
}

// TestGroupCommitBatches holds the flusher in its first fsync while many
// goroutines append and sync; everything they appended must then become
// durable with at most one more fsync.
func TestGroupCommitBatches(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{})
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	w.SetSyncHook(func() error {
		select {
		case entered <- struct{}{}:
			<-gate
		default:
		}
		return nil
	})
	const n = 64
	if _, _, err := w.Append([][]byte{[]byte("first")}); err != nil {
		t.Fatal(err)
	}
	<-entered // the flusher is inside its first fsync
	var appended, synced sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		appended.Add(1)
		synced.Add(1)
		go func() {
			defer synced.Done()
			_, last, err := w.Append([][]byte{[]byte("rec")})
			appended.Done()
			if err == nil {
				err = w.Sync(context.Background(), last)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	appended.Wait()
	before := w.Fsyncs()
	close(gate)
	synced.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := w.Fsyncs() - before; got > 1 {
		t.Fatalf("%d fsyncs after releasing the flusher for %d Sync calls, want 1", got, n)
	}
	if w.Synced() != n+1 {
		t.Fatalf("Synced %d, want %d", w.Synced(), n+1)
	}
}

func TestReaderSeesOnlyDurableRecords(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{})
	gate := make(chan struct{})
	entered := make(chan struct{})
	w.SetSyncHook(func() error {
		close(entered) // only one fsync happens in this test before gate
		<-gate
		return nil
	})
	r := w.NewReader(1)
	defer r.Close()
	type result struct {
		idx uint64
		rec []byte
		err error
	}
	got := make(chan result, 1)
	go func() {
		idx, rec, err := r.Next(context.Background())
		got <- result{idx, bytes.Clone(rec), err}
	}()

	if _, _, err := w.Append([][]byte{[]byte("hello")}); err != nil {
		t.Fatal(err)
	}
	<-entered // written to the file, not yet reported durable
	if w.Synced() != 0 {
		t.Fatalf("Synced %d before the fsync finished", w.Synced())
	}
	n := 0
	w.Scan(1, func(uint64, []byte) error { n++; return nil })
	if n != 0 {
		t.Fatalf("Scan saw %d records that are not durable", n)
	}
	r2 := w.NewReader(1)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r2.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next on a not-yet-durable record with cancelled ctx: %v", err)
	}
	r2.Close()
	select {
	case res := <-got:
		t.Fatalf("Next returned %d %q %v before the record was durable", res.idx, res.rec, res.err)
	default:
	}
	sctx, scancel := context.WithCancel(context.Background())
	scancel()
	if err := w.Sync(sctx, 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("Sync with cancelled ctx: %v", err)
	}

	close(gate)
	res := <-got
	if res.err != nil || res.idx != 1 || string(res.rec) != "hello" {
		t.Fatalf("Next = %d %q %v", res.idx, res.rec, res.err)
	}
	if err := w.Sync(context.Background(), 1); err != nil {
		t.Fatal(err)
	}
}

func TestReaderFollowsAppendsAndClose(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{SegmentSize: 300})
	const n = 500
	r := w.NewReader(1)
	defer r.Close()
	done := make(chan error, 1)
	go func() {
		for i := uint64(1); ; i++ {
			idx, rec, err := r.Next(context.Background())
			if errors.Is(err, wal.ErrClosed) {
				if i != n+1 {
					err = fmt.Errorf("ErrClosed after %d records, want %d", i-1, n)
				} else {
					err = nil
				}
				done <- err
				return
			}
			if err == nil && (idx != i || !bytes.Equal(rec, payload(i))) {
				err = fmt.Errorf("got %d %q, want %d", idx, rec, i)
			}
			if err != nil {
				done <- err
				return
			}
		}
	}()
	for i := uint64(1); i <= n; i++ {
		if _, _, err := w.Append([][]byte{payload(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil { // durable without Sync
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestReaderReleased(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{SegmentSize: 256})
	appendRange(t, w, 1, 200, 1)
	r := w.NewReader(1)
	defer r.Close()
	if err := w.Release(150); err != nil {
		t.Fatal(err)
	}
	_, _, err := r.Next(context.Background())
	if !errors.Is(err, wal.ErrReleased) {
		t.Fatalf("Next on a released record: %v, want ErrReleased", err)
	}
	// A reader already inside a segment keeps reading it after deletion.
	r2 := w.NewReader(w.First())
	if _, _, err := r2.Next(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Release(199); err != nil {
		t.Fatal(err)
	}
	for {
		idx, _, err := r2.Next(context.Background())
		if err != nil {
			if !errors.Is(err, wal.ErrReleased) {
				t.Fatalf("Next: %v", err)
			}
			break
		}
		if idx == 200 {
			break
		}
	}
	r2.Close()
}

func TestCloseIdempotent(t *testing.T) {
	dir := t.TempDir()
	w, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Append([][]byte{[]byte("a"), []byte("b")}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, err := w.Append([][]byte{[]byte("c")}); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := w.Release(1); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("Release after Close: %v", err)
	}
	if w.Synced() != 2 {
		t.Fatalf("Close did not make pending appends durable: Synced %d", w.Synced())
	}
	if err := w.Sync(context.Background(), 2); err != nil {
		t.Fatalf("Sync of durable records after Close: %v", err)
	}
	checkScanRaw(t, w, "a", "b")
	w2 := open(t, dir, wal.Options{})
	checkScanRaw(t, w2, "a", "b")
}

func checkScanRaw(t *testing.T, w *wal.WAL, want ...string) {
	t.Helper()
	var got []string
	if err := w.Scan(1, func(_ uint64, rec []byte) error { got = append(got, string(rec)); return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("Scan = %q, want %q", got, want)
	}
}

func TestFsyncFailureIsSticky(t *testing.T) {
	w := open(t, t.TempDir(), wal.Options{})
	injected := errors.New("injected fsync failure")
	w.SetSyncHook(func() error { return injected })
	_, last, err := w.Append([][]byte{[]byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(context.Background(), last); !errors.Is(err, injected) {
		t.Fatalf("Sync: %v, want the fsync error", err)
	}
	if _, _, err := w.Append([][]byte{[]byte("y")}); !errors.Is(err, injected) {
		t.Fatalf("Append after fsync failure: %v, want the fsync error", err)
	}
	if w.Synced() != 0 {
		t.Fatalf("Synced %d after a failed fsync", w.Synced())
	}
	if err := w.Close(); !errors.Is(err, injected) {
		t.Fatalf("Close: %v, want the fsync error", err)
	}
}

func TestOpenRejectsBadOptions(t *testing.T) {
	for _, o := range []wal.Options{{SegmentSize: -1}, {MaxSize: -1}} {
		if w, err := wal.Open(t.TempDir(), o); err == nil {
			w.Close()
			t.Errorf("Open(%+v) succeeded", o)
		}
	}
}

// TestConcurrentAppendReadRelease runs writers, a reader and a releaser
// together; the reader must see every record once, in order, and releasing
// behind it must never disturb it.
func TestConcurrentAppendReadRelease(t *testing.T) {
	w, err := wal.Open(t.TempDir(), wal.Options{SegmentSize: 2048})
	if err != nil {
		t.Fatal(err)
	}
	const writers, perWriter = 4, 500
	const n = writers * perWriter
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				_, last, err := w.Append([][]byte{[]byte("payload")})
				if err == nil && i%10 == 0 {
					err = w.Sync(context.Background(), last)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	read := make(chan uint64, 64)
	readErr := make(chan error, 1)
	go func() {
		defer close(read)
		r := w.NewReader(1)
		defer r.Close()
		for want := uint64(1); ; want++ {
			idx, rec, err := r.Next(context.Background())
			if errors.Is(err, wal.ErrClosed) && want == n+1 {
				readErr <- nil
				return
			}
			if err == nil && (idx != want || string(rec) != "payload") {
				err = fmt.Errorf("got %d %q, want %d", idx, rec, want)
			}
			if err != nil {
				readErr <- err
				return
			}
			read <- idx
		}
	}()
	released := make(chan struct{})
	go func() {
		defer close(released)
		for idx := range read {
			if idx%25 == 0 {
				if err := w.Release(idx - 1); err != nil && !errors.Is(err, wal.ErrClosed) {
					t.Error(err)
				}
			}
		}
	}()
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	<-released
}
