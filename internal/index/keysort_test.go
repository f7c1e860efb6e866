package index

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/synth"
)

// TestSortEnts: the word sort orders keys as bytes.Compare does, for keys
// sharing long prefixes, holding zero bytes, ending where others go on,
// repeated, in groups of every size around smallSort, and given in order
// already, in the reverse order, or either but for two keys.
func TestSortEnts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte{0, 1, 'a', 'b', 0xff}
	var s sortScratch
	for round := range 300 {
		n := rng.IntN(4 * smallSort)
		if round%10 == 0 {
			n = rng.IntN(20000)
		}
		prefix := bytes.Repeat([]byte("p"), rng.IntN(20))
		r := &run{}
		for range n {
			k := append([]byte(nil), prefix...)
			for range rng.IntN(24) {
				k = append(k, alphabet[rng.IntN(len(alphabet))])
			}
			if rng.IntN(4) == 0 { // a long shared middle, as ids' digits are
				k = append(k, "0000000000000000"[:rng.IntN(16)]...)
			}
			r.add(k, []byte{byte(len(k))})
		}
		if round%5 == 1 && n > 1 {
			// In order already, in the reverse order (as time postings
			// come), or either but for two keys.
			byKey := func(a, b runEnt) int { return bytes.Compare(r.key(a), r.key(b)) }
			r.ents = slices.SortedFunc(slices.Values(r.ents), byKey)
			if round%3 == 0 {
				r.ents = slices.CompactFunc(r.ents, func(a, b runEnt) bool { return byKey(a, b) == 0 })
				slices.Reverse(r.ents)
			}
			if round%4 == 0 && len(r.ents) > 1 {
				i := rng.IntN(len(r.ents) - 1)
				r.ents[i], r.ents[i+1] = r.ents[i+1], r.ents[i]
			}
		}
		want := make([][]byte, 0, n)
		for _, e := range r.ents {
			want = append(want, r.key(e))
		}
		slices.SortFunc(want, bytes.Compare)
		r.sortEnts(&s)
		for i, e := range r.ents {
			if !bytes.Equal(r.key(e), want[i]) {
				t.Fatalf("round %d (%d keys): key %d is %q, want %q", round, n, i, r.key(e), want[i])
			}
			if v := r.entry(e)[e.klen]; int(v) != int(e.klen) {
				t.Fatalf("round %d: key %q lost its value", round, r.key(e))
			}
		}
	}
}

// TestSortEntsZeroTails: keys that end where others go on with zero
// bytes, all sharing their first bytes, in a group large enough for
// words: a key that ends sorts before those that go on.
func TestSortEntsZeroTails(t *testing.T) {
	var s sortScratch
	for _, prefix := range []string{"", "p", "pq", "pqrstuvw"} {
		r := &run{}
		for z := range 12 {
			r.add([]byte(prefix+strings.Repeat("\x00", z)), nil)
			if z >= 4 { // all share the prefix and four zero bytes
				r.add([]byte(prefix+strings.Repeat("\x00", z)+"a"), nil)
				r.add([]byte(prefix+strings.Repeat("\x00", z)+"\xff"), nil)
			}
		}
		rand.New(rand.NewPCG(uint64(len(prefix)), 1)).Shuffle(len(r.ents), func(i, j int) { r.ents[i], r.ents[j] = r.ents[j], r.ents[i] })
		r.sortEnts(&s)
		for i := 1; i < len(r.ents); i++ {
			if a, b := r.key(r.ents[i-1]), r.key(r.ents[i]); bytes.Compare(a, b) > 0 {
				t.Fatalf("prefix %q: %q sorted before %q", prefix, a, b)
			}
		}
	}
}

// TestRunTruncated: a run cut short anywhere in its last entry is an
// error, read through a buffer the entry fits in or one it does not.
func TestRunTruncated(t *testing.T) {
	bl := &Builder{tmp: t.TempDir(), runs: map[byte][]string{}}
	w := &buildWorker{b: bl}
	r := &run{}
	for i := range 50 {
		r.add(fmt.Appendf(nil, "key-%03d", i), bytes.Repeat([]byte{'v'}, 40))
	}
	if err := w.writeRun('a', r, nil); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(bl.runs['a'][0])
	if err != nil {
		t.Fatal(err)
	}
	// The last entry is 44 bytes: a header of 3, the key's last byte
	// ("key-049" after "key-048") and the value's 40.
	for cut := 1; cut < 44; cut++ {
		for _, size := range []int{16, 1 << 20} {
			p := filepath.Join(t.TempDir(), "run")
			if err := os.WriteFile(p, whole[:len(whole)-cut], 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			rr := newRunReader(f, p, size)
			n := 0
			for err = rr.next(); err == nil && !rr.done; err = rr.next() {
				n++
			}
			f.Close()
			if err == nil {
				t.Errorf("cut %d bytes, buffer %d: read %d entries and no error", cut, size, n)
			}
		}
	}
}

func TestKeyWord(t *testing.T) {
	keys := [][]byte{{}, {0}, {0, 0}, {0, 1}, {1}, []byte("abcdefg"), []byte("abcdefg\x00"), []byte("abcdefgh"), []byte("abcdefgh\x00\x00")}
	for i := 1; i < len(keys); i++ {
		if keyWord(keys[i-1], 0) >= keyWord(keys[i], 0) && !(len(keys[i-1]) >= 7 && len(keys[i]) > 7) {
			t.Errorf("keyWord(%q) >= keyWord(%q)", keys[i-1], keys[i])
		}
	}
}

// postingRuns are the runs of postings a worker collects from n events of
// the synthetic workload.
func postingRuns(tb testing.TB, n int) map[byte]*run {
	g := synth.New(synth.Config{Seed: 1, Events: uint64(n)})
	runs := map[byte]*run{}
	var dec event.Decoder
	var key []byte
	seq := uint64(1)
	for k := range g.Chunks() {
		for _, l := range g.Chunk(nil, k) {
			e, err := dec.Decode(l)
			if err != nil {
				tb.Fatal(err)
			}
			key = eachPosting(key, e, event.DefaultTenant, seq, func(kind byte, k []byte) {
				if runs[kind] == nil {
					runs[kind] = &run{}
				}
				runs[kind].add(k, nil)
			})
			seq++
		}
	}
	return runs
}

// BenchmarkSortPostings: sorting a spill's postings, by words and, for
// comparison, with slices.SortFunc and bytes.Compare as the build did.
func BenchmarkSortPostings(b *testing.B) {
	runs := postingRuns(b, 4*synth.ChunkSize)
	total := 0
	orig := map[byte][]runEnt{}
	for kind, r := range runs {
		orig[kind] = slices.Clone(r.ents)
		total += len(r.ents)
	}
	for _, how := range []string{"words", "compare"} {
		b.Run(how, func(b *testing.B) {
			var s sortScratch
			for b.Loop() {
				for kind, r := range runs {
					copy(r.ents, orig[kind])
					if how == "words" {
						r.sortEnts(&s)
					} else {
						slices.SortFunc(r.ents, func(a, c runEnt) int { return bytes.Compare(r.key(a), r.key(c)) })
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/posting")
		})
	}
}

func TestCommonPrefix(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		a := make([]byte, rng.IntN(40))
		for i := range a {
			a[i] = byte(rng.IntN(3))
		}
		b := append([]byte(nil), a[:rng.IntN(len(a)+1)]...)
		for range rng.IntN(20) {
			b = append(b, byte(rng.IntN(3)))
		}
		want := 0
		for want < min(len(a), len(b)) && a[want] == b[want] {
			want++
		}
		if got := commonPrefix(a, b); got != want {
			t.Fatalf("commonPrefix(%v, %v) = %d, want %d", a, b, got, want)
		}
	}
}

// BenchmarkWriteRun: writing sorted postings to a run file, which reads
// their keys in sorted order, scattered over the chunks.
func BenchmarkWriteRun(b *testing.B) {
	runs := postingRuns(b, 16*synth.ChunkSize)
	var s sortScratch
	total := 0
	for _, r := range runs {
		r.sortEnts(&s)
		total += len(r.ents)
	}
	bl := &Builder{tmp: b.TempDir(), runs: map[byte][]string{}}
	w := &buildWorker{b: bl}
	for b.Loop() {
		for kind, r := range runs {
			if err := w.writeRun(kind, r, nil); err != nil {
				b.Fatal(err)
			}
		}
		for _, paths := range bl.runs {
			for _, p := range paths {
				os.Remove(p)
			}
		}
		clear(bl.runs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/posting")
}

// TestRunMerge: runs written by writeRun and read back through small
// buffers (refilled and grown mid-entry) merge into every entry in key
// order, for any number of runs, empty ones among them.
func TestRunMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var s sortScratch
	for _, nruns := range []int{0, 1, 2, 3, 7, 16, 33} {
		bl := &Builder{tmp: t.TempDir(), runs: map[byte][]string{}}
		w := &buildWorker{b: bl}
		var want [][]byte
		for i := range nruns {
			r := &run{}
			n := rng.IntN(300)
			switch {
			case i == 1:
				n = 0
			case nruns == 3 && i == 2:
				n = 100000 // over runWriteBytes: written in parts
			}
			for range n {
				k := fmt.Appendf(nil, "k%03d", rng.IntN(500))
				k = append(k, bytes.Repeat([]byte{'x'}, rng.IntN(40))...)
				v := bytes.Repeat([]byte{'v'}, rng.IntN(30))
				r.add(k, v)
				want = append(want, append(append([]byte(nil), k...), v...))
			}
			r.sortEnts(&s)
			if err := w.writeRun('a', r, nil); err != nil {
				t.Fatal(err)
			}
		}
		slices.SortFunc(want, bytes.Compare)
		var runs []*runReader
		for _, p := range bl.runs['a'] {
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := newRunReader(f, p, 16+rng.IntN(20))
			if err := r.next(); err != nil {
				t.Fatal(err)
			}
			runs = append(runs, r)
		}
		m := newRunMerger(runs)
		var got [][]byte
		var prev []byte
		for r := m.min(); r != nil; r = m.min() {
			if bytes.Compare(prev, r.key) > 0 {
				t.Fatalf("%d runs: key %q after %q", nruns, r.key, prev)
			}
			prev = append(prev[:0], r.key...)
			got = append(got, append(append([]byte(nil), r.key...), r.val...))
			if err := r.next(); err != nil {
				t.Fatal(err)
			}
			m.fix()
		}
		slices.SortFunc(got, bytes.Compare) // entries of equal keys come in any order
		if !slices.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("%d runs: merged %d entries, want %d (or they differ)", nruns, len(got), len(want))
		}
	}
}

// BenchmarkMergeRuns: merging 128 runs of postings of each kind (as a 100M-event build
// has per kind), reading them from their files, without writing tables.
func BenchmarkMergeRuns(b *testing.B) {
	runs := postingRuns(b, 8*synth.ChunkSize)
	for _, kind := range []byte{kindActor, kindTarget, kindRequest, kindTime} {
		b.Run(string(kind), func(b *testing.B) { benchmarkMergeRuns(b, kind, runs[kind]) })
	}
}

func benchmarkMergeRuns(b *testing.B, kind byte, r *run) {
	bl := &Builder{tmp: b.TempDir(), runs: map[byte][]string{}}
	w := &buildWorker{b: bl}
	var s sortScratch
	const nruns = 128
	per := len(r.ents) / nruns
	for i := range nruns {
		part := &run{chunks: r.chunks, ents: slices.Clone(r.ents[i*per : (i+1)*per])}
		part.sortEnts(&s)
		if err := w.writeRun(kind, part, nil); err != nil {
			b.Fatal(err)
		}
	}
	n := 0
	for b.Loop() {
		var rs []*runReader
		for _, p := range bl.runs[kind] {
			f, err := os.Open(p)
			if err != nil {
				b.Fatal(err)
			}
			rr := newRunReader(f, p, runReadBytes)
			if err := rr.next(); err != nil {
				b.Fatal(err)
			}
			rs = append(rs, rr)
		}
		m := newRunMerger(rs)
		for x := m.min(); x != nil; x = m.min() {
			n++
			if err := x.next(); err != nil {
				b.Fatal(err)
			}
			m.fix()
		}
		for _, rr := range rs {
			rr.f.Close()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/entry")
}
