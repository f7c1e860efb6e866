package index

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/klauspost/compress/gzip"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/synth"
)

// dump returns every key and value of the index, as reads see them.
func dump(t *testing.T, x *Index) (keys, vals [][]byte) {
	t.Helper()
	it, err := x.db.NewIter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	type kv struct{ k, v []byte }
	var kvs []kv
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			t.Fatal(err)
		}
		k := it.Key()
		if k[0] != kindGroup {
			kvs = append(kvs, kv{bytes.Clone(k), bytes.Clone(v)})
			continue
		}
		// A group stands for its postings, each one a key as Add writes.
		ps, err := appendGroup(nil, tailPos(k), v)
		if err != nil {
			t.Fatalf("group %q: %v", k, err)
		}
		prefix := k[1 : len(k)-postingTail]
		for _, p := range ps {
			pk := binary.BigEndian.AppendUint64(bytes.Clone(prefix), p.ord)
			kvs = append(kvs, kv{binary.BigEndian.AppendUint64(pk, p.seq), []byte{}})
		}
	}
	slices.SortFunc(kvs, func(a, b kv) int { return bytes.Compare(a.k, b.k) })
	for _, e := range kvs {
		keys, vals = append(keys, e.k), append(vals, e.v)
	}
	return keys, vals
}

// groupsIn counts the index's groups and the postings they hold, and
// gives the largest group's size.
func groupsIn(t *testing.T, x *Index) (groups, postings, largest int) {
	t.Helper()
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindGroup}, UpperBound: []byte{kindGroup + 1}})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		ps, err := appendGroup(nil, tailPos(it.Key()), it.Value())
		if err != nil {
			t.Fatal(err)
		}
		groups, postings, largest = groups+1, postings+len(ps), max(largest, len(ps))
	}
	return groups, postings, largest
}

// TestBuiltSearchEqualsScan: lookups on a built index, whose postings are
// in groups, equal a brute-force scan; so do they after Adds of events
// whose times fall inside the groups' (postings of one list both in
// groups and on their own).
func TestBuiltSearchEqualsScan(t *testing.T) {
	lines := workload(t, 6000)
	var first, later [][]byte
	for i, l := range lines {
		if i%5 == 3 {
			later = append(later, l)
		} else {
			first = append(first, l)
		}
	}
	x := buildSmall(t, first, 96<<10, 50<<10)
	// Every event has a time posting and most an actor, a target and a
	// request: about four postings each, in groups (a request's few, a
	// tenant's time postings by groupMax).
	if g, p, most := groupsIn(t, x); p < 3*len(first) || g > p/2 || most != groupMax {
		t.Fatalf("%d groups hold %d postings of %d events, the largest %d: the build did not group them", g, p, len(first), most)
	}
	m := &model{ids: map[string]bool{}}
	m.add(first)
	randomQueries(t, x, m, first, 100)

	for i := 0; i < len(later); i += 100 {
		if _, err := x.Add(later[i:min(i+100, len(later))]); err != nil {
			t.Fatal(err)
		}
	}
	m.add(later)
	randomQueries(t, x, m, lines, 100)
}

// TestBuildEqualsAdd: a Builder, with batches, runs and merges forced
// small, makes exactly the keys and values that Add makes from the same
// events; the built index then takes Adds like any other.
func TestBuildEqualsAdd(t *testing.T) {
	lines := workload(t, 6000)
	added, _ := openTemp(t)
	for i := 0; i < len(lines); i += 500 {
		if _, err := added.Add(lines[i:min(i+500, len(lines))]); err != nil {
			t.Fatal(err)
		}
	}

	dir := filepath.Join(t.TempDir(), "built")
	b, err := NewBuilder(dir, Options{BlockBytes: 4 << 10}, BuildOptions{Workers: 3, MemoryBytes: 96 << 10})
	if err != nil {
		t.Fatal(err)
	}
	b.batch = 50 << 10
	for i := 0; i < len(lines); i += 333 {
		if err := b.Add(lines[i:min(i+333, len(lines))]); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.Events(); got != uint64(len(lines)) {
		t.Fatalf("Events() = %d, want %d", got, len(lines))
	}
	b.dispatch()
	b.stop() // the workers append runs and files until they finish
	if len(b.runs[kindActor]) < 2 || len(b.files) < 10 {
		t.Fatalf("runs %d, e tables %d: the test should force several of each", len(b.runs[kindActor]), len(b.files))
	}
	for _, w := range b.workers { // tenants are kept as copies: the batches they came from are reused
		if len(w.tenants) > 2 {
			t.Fatalf("a worker holds %d tenants, the workload has 2", len(w.tenants))
		}
	}
	built := finishAndOpen(t, b, dir)
	sameIndex(t, built, added)
	if m := built.db.Metrics(); m.Levels[len(m.Levels)-1].TablesCount == 0 {
		t.Fatal("no tables at the bottom level: the build did not ingest there")
	}
	var names []string
	for _, p := range b.Phases() {
		names = append(names, p.Name)
	}
	for _, want := range []string{"last spill", "merge a", "merge t", "merge r", "merge T", "merge c", "ingest"} {
		if !slices.Contains(names, want) {
			t.Errorf("Finish's phases %q lack %q", names, want)
		}
	}

	// Both take the same Adds and stay equal, counters included.
	more := workload(t, 7000)[6000:]
	for _, x := range []*Index{added, built} {
		if _, err := x.Add(more); err != nil {
			t.Fatal(err)
		}
	}
	sameIndex(t, built, added)
}

// TestBuildEmpty: a build of nothing is an empty, usable index; a build
// into a directory that holds files is refused; Abort removes the
// directory.
func TestBuildEmpty(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "x")
	b, err := NewBuilder(dir, Options{}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := NewBuilder(dir, Options{}, BuildOptions{}); err == nil {
		t.Fatal("NewBuilder into a non-empty directory succeeded")
	}
	x, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := x.Search(context.Background(), Request{Keys: []Key{{Kind: All}}})
	x.Close()
	if err != nil || len(res.Events) != 0 {
		t.Fatalf("empty build: %d events, %v", len(res.Events), err)
	}

	dir2 := filepath.Join(t.TempDir(), "y")
	b, err = NewBuilder(dir2, Options{}, BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Add(workload(t, 100)); err != nil {
		t.Fatal(err)
	}
	b.Abort()
	if _, err := os.Stat(dir2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("Abort left the index directory")
	}
}

// BenchmarkBuild: the Builder alone over events made beforehand (kansa
// reindex also reads and decompresses the archive; the figure of record is
// bench/indexeval's).
func BenchmarkBuild(b *testing.B) {
	g := synth.New(synth.Config{Seed: 1, Events: 8 * synth.ChunkSize})
	var lines [][]byte
	for k := range g.Chunks() {
		lines = g.Chunk(lines, k)
	}
	n := 0
	for b.Loop() {
		dir := filepath.Join(b.TempDir(), "x")
		bl, err := NewBuilder(dir, Options{}, BuildOptions{})
		if err != nil {
			b.Fatal(err)
		}
		for i := 0; i < len(lines); i += 1024 {
			if err := bl.Add(lines[i:min(i+1024, len(lines))]); err != nil {
				b.Fatal(err)
			}
		}
		if err := bl.Finish(context.Background()); err != nil {
			b.Fatal(err)
		}
		n += len(lines)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// archiveOf writes lines as gzip NDJSON files of perFile lines, in members
// of perMember lines, into a directory store; the last file is one member
// larger than MaxRefMember. It returns the store and the files' keys.
func archiveOf(t *testing.T, lines [][]byte, perFile, perMember int) (*objstore.Dir, []string) {
	t.Helper()
	store, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := 0; i < len(lines); i += perFile {
		file := lines[i:min(i+perFile, len(lines))]
		per := perMember
		if i+perFile >= len(lines) {
			per = len(file)
			if n := len(bytes.Join(file, nil)); n <= MaxRefMember {
				t.Fatalf("the last file's member is %d bytes, not more than MaxRefMember", n)
			}
		}
		var out bytes.Buffer
		for j := 0; j < len(file); j += per {
			zw := gzip.NewWriter(&out)
			for _, l := range file[j:min(j+per, len(file))] {
				zw.Write(l)
				zw.Write([]byte{'\n'})
			}
			zw.Close()
		}
		key := fmt.Sprintf("tenant=x/f-%04d.ndjson.gz", i/perFile)
		if err := store.Put(context.Background(), key, out.Bytes()); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return store, keys
}

// TestBuildByReference: an index built from archived files keeps events
// by reference (and the lines of a too large member whole), finds the same
// events as a scan, and leaves out those of a file that is gone.
func TestBuildByReference(t *testing.T) {
	ctx := context.Background()
	lines := workload(t, 6000)
	store, keys := archiveOf(t, lines, 1000, 37)
	dir := filepath.Join(t.TempDir(), "built")
	b, err := NewBuilder(dir, Options{BlockBytes: 4 << 10}, BuildOptions{Workers: 3, MemoryBytes: 96 << 10, References: true})
	if err != nil {
		t.Fatal(err)
	}
	b.batch = 50 << 10
	for _, k := range keys {
		gz, err := store.Get(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.AddFile(k, gz); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	// A small line cache, so that lines are dropped and read again.
	x, err := Open(dir, Options{BlockBytes: 4 << 10, Archive: store, LineCacheBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if byRef, whole := eventsStored(t, x); byRef != 5000 || whole != 1000 {
		t.Fatalf("%d events by reference and %d copies, want 5000 and 1000", byRef, whole)
	}
	m := &model{ids: map[string]bool{}}
	m.add(lines)
	randomQueries(t, x, m, lines, 100)

	// Without the archive, a lookup says what is missing.
	x.Close()
	x, err = Open(dir, Options{BlockBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	_, err = x.Search(ctx, Request{Keys: []Key{{Kind: All}}, Limit: len(lines)})
	x.Close()
	if err == nil || !strings.Contains(err.Error(), "no archive") {
		t.Fatalf("search without the archive: %v", err)
	}

	// A file gone (expired by retention): its events are not found.
	if err := store.Delete(ctx, keys[1]); err != nil {
		t.Fatal(err)
	}
	if x, err = Open(dir, Options{BlockBytes: 4 << 10, Archive: store}); err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	m = &model{ids: map[string]bool{}}
	m.add(slices.Concat(lines[:1000], lines[2000:]))
	randomQueries(t, x, m, lines, 40)
}

func eventsStored(t *testing.T, x *Index) (byRef, copies int) {
	t.Helper()
	r, c, err := x.Stored()
	if err != nil {
		t.Fatal(err)
	}
	return int(r), int(c)
}

// TestRepoint: events added by WAL index become references when the
// archive's writer reports where it put them; events the index has not
// added yet keep their copies; lookups equal a scan throughout, and a
// batch added again overwrites itself.
func TestRepoint(t *testing.T) {
	ctx := context.Background()
	lines := workload(t, 6000)
	idx := make([]uint64, len(lines))
	for i := range idx {
		idx[i] = 10 + 2*uint64(i) // boundary records between them in the WAL
	}
	store, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.NewWriter(archive.Config{MemberBytes: archive.MinMemberBytes}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	x, err := Open(dir, Options{BlockBytes: 4 << 10, Archive: store})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { x.Close() }()
	repointed := 0
	w.OnPlaced(func(_ context.Context, ps []archive.Placement) {
		n, err := x.Repoint(ps)
		if err != nil {
			t.Error(err)
		}
		repointed += n
	})
	archiveBatch := func(from, to int) {
		t.Helper()
		b := &archive.Batch{First: idx[from], Last: idx[to-1], Closed: time.Unix(0, 0), Index: idx[from:to]}
		for _, l := range lines[from:to] {
			e, err := event.Decode(l)
			if err != nil {
				t.Fatal(err)
			}
			b.Entries = append(b.Entries, record.Entry{Type: record.TypeEvent, Time: e.Time.UnixMicro(), Tenant: []byte(e.Tenant), Source: []byte(e.Source), Body: l})
		}
		if _, err := w.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	m := &model{ids: map[string]bool{}}
	for i := 0; i < 5000; i += 500 {
		if _, err := x.AddWAL(lines[i:i+500], idx[i:i+500]); err != nil {
			t.Fatal(err)
		}
		m.add(lines[i : i+500])
	}
	archiveBatch(0, 2500)
	archiveBatch(2500, 4000)
	archiveBatch(4000, 6000) // 5000.. not added yet: they keep their copies
	if _, err := x.AddWAL(lines[5000:], idx[5000:]); err != nil {
		t.Fatal(err)
	}
	m.add(lines[5000:])
	if byRef, copies := eventsStored(t, x); repointed != 5000 || byRef != 5000 || copies != 1000 {
		t.Fatalf("repointed %d; %d by reference, %d copies; want 5000, 5000, 1000", repointed, byRef, copies)
	}
	randomQueries(t, x, m, lines, 80)

	// Reopened, the index keeps numbering by WAL index: a batch added
	// again overwrites its own events.
	x.Close()
	if x, err = Open(dir, Options{BlockBytes: 4 << 10, Archive: store}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.AddWAL(lines[4500:5500], idx[4500:5500]); err != nil {
		t.Fatal(err)
	}
	if byRef, copies := eventsStored(t, x); byRef != 4500 || copies != 1500 {
		t.Fatalf("after a batch added again: %d by reference, %d copies; want 4500 and 1500", byRef, copies)
	}
	randomQueries(t, x, m, lines, 30)
	if _, err := x.AddWAL(lines[:1], []uint64{1}); err == nil || !strings.Contains(err.Error(), "older than") {
		t.Fatalf("a WAL index before the index's first: %v", err)
	}
	if n, err := x.AddWAL(nil, nil); n != 0 || err != nil {
		t.Fatalf("AddWAL of nothing: %d, %v", n, err)
	}
	if _, err := x.Add(lines[:1]); err == nil || !strings.Contains(err.Error(), "by WAL index") {
		t.Fatalf("Add to an index that adds by WAL index: %v", err)
	}
}

// TestBuildActorCounts: the counters by actor a Builder derives from its
// sorted actor postings equal those Add counts event by event, for actors
// whose tenant, type or id hold zero bytes (counted the other way), ids
// that TYPE:ID quotes, empty types and ids, no actor, days before 1970,
// and actors whose events span spills and days.
func TestBuildActorCounts(t *testing.T) {
	tenants := []string{"", `"acme"`, `"a\u0000b"`}
	actors := []string{
		`{"type":"User","id":"1"}`, `{"type":"User","id":"2"}`, `{"type":"User","id":"10"}`,
		`{"type":"User","id":42}`, `{"type":"","id":"7"}`, `{"type":"User","id":""}`,
		`{"type":"User"}`, `null`, `{"type":"Admin::User","id":"3"}`,
		`{"type":"AWS::IAM::Role","id":"arn:aws:iam::1:role/x"}`, `{"type":"User","id":"q\"uote"}`,
		`{"type":"User","id":"nul\u0000id"}`, `{"type":"Us\u0000er","id":"1"}`, `{"type":"User","id":"1\u0000"}`,
	}
	times := []string{
		"2024-03-01T00:00:00Z", "2024-03-01T23:59:59.999999Z", "2024-03-02T00:00:00.000001Z",
		"1969-12-31T23:59:59.5Z", "1970-01-01T00:00:00Z", "1969-12-31T00:00:00Z", "1969-12-30T23:59:59.999999Z",
	}
	var lines [][]byte
	for i := range 4000 {
		line := fmt.Sprintf(`{"id":"ev-%d","time":%q,"action":"update","actor":%s`, i, times[(i*7)%len(times)], actors[(i*5)%len(actors)])
		if tn := tenants[(i/3)%len(tenants)]; tn != "" {
			line += `,"tenant":` + tn
		}
		lines = append(lines, []byte(line+"}"))
	}
	added, _ := openTemp(t)
	if _, err := added.Add(lines); err != nil {
		t.Fatal(err)
	}
	built := buildSmall(t, lines, 64<<10, 16<<10)
	var nActor int
	keys, _ := dump(t, added)
	for _, k := range keys {
		// c <tenant> 0 <day:4> <dim>, for the tenants without a zero byte
		if i := bytes.IndexByte(k, 0); k[0] == kindCount && i+5 < len(k) && k[i+5] == byte(ByActor) {
			nActor++
		}
	}
	if nActor < 20 {
		t.Fatalf("%d actor counters: the test should make many", nActor)
	}
	sameIndex(t, built, added)
}

// finishAndOpen finishes b, building into dir, and opens the index.
func finishAndOpen(t *testing.T, b *Builder, dir string) *Index {
	t.Helper()
	if err := b.Finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	x, err := Open(dir, Options{BlockBytes: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

// buildSmall builds an index of lines with two workers, memory bytes of
// postings and batches of batch bytes, forced small so that a few
// thousand events make several runs and tables.
func buildSmall(t *testing.T, lines [][]byte, memory, batch int) *Index {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "built")
	b, err := NewBuilder(dir, Options{BlockBytes: 4 << 10}, BuildOptions{Workers: 2, MemoryBytes: memory})
	if err != nil {
		t.Fatal(err)
	}
	b.batch = batch
	if err := b.Add(lines); err != nil {
		t.Fatal(err)
	}
	return finishAndOpen(t, b, dir)
}

// sameIndex fails unless built holds exactly added's keys and values.
func sameIndex(t *testing.T, built, added *Index) {
	t.Helper()
	wk, wv := dump(t, added)
	gk, gv := dump(t, built)
	for i := range min(len(gk), len(wk)) {
		if !bytes.Equal(gk[i], wk[i]) {
			t.Fatalf("built index has %d keys, added %d; the first to differ, at %d: built %q, added %q", len(gk), len(wk), i, gk[i], wk[i])
		}
		if !bytes.Equal(gv[i], wv[i]) {
			t.Fatalf("key %q: built %x, added %x", gk[i], gv[i], wv[i])
		}
	}
	if len(gk) != len(wk) {
		t.Fatalf("built index has %d keys, added %d", len(gk), len(wk))
	}
}

func TestMicroDay(t *testing.T) {
	for _, us := range []int64{0, 1, -1, 999_999, 1_000_000, -999_999, -1_000_000, -1_000_001,
		86_400_000_000, 86_399_999_999, -86_400_000_000, -86_400_000_001, -86_399_999_999,
		1_709_251_199_999_999, -62_135_596_800_000_000, 253_402_300_799_999_999} {
		if got, want := microDay(us), epochDay(time.UnixMicro(us)); got != want {
			t.Errorf("microDay(%d) = %d, epochDay says %d", us, got, want)
		}
	}
}

// BenchmarkCountsAdd: counting events by every dimension, as a build's
// workers do (actors from their postings) and as Add does.
func BenchmarkCountsAdd(b *testing.B) {
	g := synth.New(synth.Config{Seed: 1, Events: 2 * synth.ChunkSize})
	var lines [][]byte
	for k := range g.Chunks() {
		lines = g.Chunk(lines, k)
	}
	var evs []*event.Event
	for _, l := range lines {
		e, err := event.Decode(l)
		if err != nil {
			b.Fatal(err)
		}
		evs = append(evs, e)
	}
	for _, how := range []string{"build", "add"} {
		b.Run(how, func(b *testing.B) {
			var c counts
			c.actorsFromPostings = how == "build"
			n := 0
			for b.Loop() {
				c.reset()
				for _, e := range evs {
					c.add(event.DefaultTenant, e)
				}
				n += len(evs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/event")
		})
	}
}
