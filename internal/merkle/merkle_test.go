package merkle

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// The leaves of the Certificate Transparency reference test vectors.
var ctLeaves = []string{"", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"}

func ctHashes(t *testing.T) []Hash {
	var hs []Hash
	for _, s := range ctLeaves {
		b, err := hex.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, LeafHash(b))
	}
	return hs
}

func TestKnownRoots(t *testing.T) {
	hs := ctHashes(t)
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{1, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"},
		{8, "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
	} {
		if got := Root(hs[:c.n]); hex.EncodeToString(got[:]) != c.want {
			t.Errorf("root of %d leaves = %x, want %s", c.n, got, c.want)
		}
	}
}

func leaves(n int) []Hash {
	hs := make([]Hash, n)
	for i := range hs {
		hs[i] = LeafHash(fmt.Appendf(nil, "event %d", i))
	}
	return hs
}

func TestFrontierEqualsRecursive(t *testing.T) {
	hs := leaves(300)
	var f Frontier
	h := NewHasher()
	for n := 0; n <= len(hs); n++ {
		if got, want := f.Root(), subtree(hs[:n]); got != want {
			t.Fatalf("size %d: frontier root %x, recursive %x", n, got, want)
		}
		if !f.Valid() {
			t.Fatalf("size %d: %d hashes", n, len(f.Hashes))
		}
		if n < len(hs) {
			if h.Leaf(fmt.Appendf(nil, "event %d", n)) != hs[n] {
				t.Fatal("Hasher.Leaf differs from LeafHash")
			}
			f.Append(hs[n])
		}
	}
	c := f.Clone()
	c.Append(hs[0])
	if f.Size != 300 || c.Root() == f.Root() {
		t.Fatal("Clone shares state")
	}
}

func TestInclusion(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 7, 8, 9, 31, 64, 100} {
		hs := leaves(n)
		root := Root(hs)
		for i := range n {
			path, err := InclusionProof(hs, i)
			if err != nil {
				t.Fatal(err)
			}
			got, err := RootFromInclusion(hs[i], uint64(i), uint64(n), path)
			if err != nil || got != root {
				t.Fatalf("n=%d i=%d: %x, %v; want %x", n, i, got, err, root)
			}
			// The same path proves nothing for another leaf, index or size.
			if n > 1 {
				if got, _ := RootFromInclusion(hs[(i+1)%n], uint64(i), uint64(n), path); got == root {
					t.Fatalf("n=%d i=%d: another leaf verifies", n, i)
				}
				if got, _ := RootFromInclusion(hs[i], uint64((i+1)%n), uint64(n), path); got == root {
					t.Fatalf("n=%d i=%d: another index verifies", n, i)
				}
			}
			if _, err := RootFromInclusion(hs[i], uint64(i), uint64(n+1), path); err == nil && n > 1 && n&(n-1) == 0 {
				t.Fatalf("n=%d i=%d: path fits a larger tree", n, i)
			}
		}
	}
	if _, err := InclusionProof(leaves(3), 3); err == nil {
		t.Fatal("proof for a leaf beyond the tree")
	}
}

func BenchmarkLeaf(b *testing.B) {
	line := make([]byte, 420)
	h := NewHasher()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		h.Leaf(line)
	}
}

func TestRootParallel(t *testing.T) { bothPaths(t, testRootParallel) }

func testRootParallel(t *testing.T) {
	leaves := make([]Hash, 5*rootChunk+3)
	for i := range leaves {
		leaves[i] = LeafHash([]byte{byte(i), byte(i >> 8), byte(i >> 16)})
	}
	for _, n := range []int{0, 1, 2, rootChunk - 1, rootChunk, rootChunk + 1, 2 * rootChunk, 2*rootChunk + 1,
		3 * rootChunk, 3*rootChunk + 77, 4 * rootChunk, 4*rootChunk + 1, len(leaves)} {
		for _, workers := range []int{1, 2, 3, 8} {
			if got, want := RootParallel(leaves[:n], workers), subtree(leaves[:n]); got != want {
				t.Fatalf("%d leaves on %d goroutines: root %x, want %x", n, workers, got, want)
			}
		}
	}
}

// AppendLeaves equals LeafHash line by line, for lines of every length
// around SHA-256's block and padding boundaries and pairs of unequal ones.
func TestAppendLeaves(t *testing.T) { bothPaths(t, testAppendLeaves) }

func testAppendLeaves(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var data []byte
	var want []Hash
	line := func(n int) {
		l := make([]byte, n)
		for i := range l {
			l[i] = 'a' + byte(r.IntN(26))
		}
		data = append(append(data, l...), '\n')
		want = append(want, LeafHash(l))
	}
	for n := range 300 {
		line(n)
		line(r.IntN(300))
	}
	for range 200 {
		line(r.IntN(3000))
	}
	// Lines longer than the many-message code's chunks, between short
	// ones and one after another.
	line(300 << 10)
	line(5)
	line(200 << 10)
	line(129 << 10)
	for range 20 {
		line(r.IntN(300))
	}
	line(0)
	line(0)
	for _, cut := range []int{0, 1} { // with and without the last '\n'
		in := data[:len(data)-cut]
		for _, h := range []*Hasher{NewHasher(), NewHasher()} {
			got := h.AppendLeaves(nil, in)
			// Without its '\n', an empty last line is no line.
			w := want
			if cut == 1 {
				w = want[:len(want)-1]
			}
			if len(got) != len(w) {
				t.Fatalf("%d leaves, want %d", len(got), len(w))
			}
			for i := range got {
				if got[i] != w[i] {
					t.Fatalf("leaf %d: %x, want %x", i, got[i], w[i])
				}
			}
		}
	}
	if got := NewHasher().AppendLeaves(nil, nil); len(got) != 0 {
		t.Fatalf("no data gives %d leaves", len(got))
	}
	// Fewer lines than lanes, and a few more: some lanes never get one,
	// and the last few are finished two at a time. Appended to leaves
	// already there, which stay.
	h := NewHasher()
	lines := bytes.SplitAfter(data, []byte("\n"))
	for n := range 40 {
		in := bytes.Join(lines[100:100+n], nil)
		got := h.AppendLeaves(want[:3:3], in)
		if len(got) != 3+n || !slices.Equal(got[:3], want[:3]) || !slices.Equal(got[3:], want[100:100+n]) {
			t.Fatalf("%d lines after 3 leaves: got %x", n, got)
		}
	}
}

func BenchmarkLeaves(b *testing.B) {
	line := bytes.Repeat([]byte("x"), 649)
	data := bytes.Repeat(append(line, '\n'), 1000)
	benchLeaves(b, data)
}

// BenchmarkLeavesMixed is lines of 300 to 700 bytes, as events are: the
// lanes' messages end at different blocks.
func BenchmarkLeavesMixed(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	var data []byte
	for range 1000 {
		data = append(append(data, bytes.Repeat([]byte("x"), 300+r.IntN(401))...), '\n')
	}
	benchLeaves(b, data)
}

func benchLeaves(b *testing.B, data []byte) {
	h := NewHasher()
	var out []Hash
	b.Run("one-at-a-time", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			out = out[:0]
			for l := range bytes.Lines(data) {
				out = append(out, h.Leaf(l[:len(l)-1]))
			}
		}
	})
	saved2, saved16 := has2x, has16
	defer func() { has2x, has16 = saved2, saved16 }()
	for _, p := range []struct {
		name         string
		two, sixteen bool
	}{{"AppendLeaves", saved2, saved16}, {"AppendLeaves-two", saved2, false}} {
		has2x, has16 = p.two, p.sixteen
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				out = h.AppendLeaves(out[:0], data)
			}
		})
	}
}

func TestReduce(t *testing.T) { bothPaths(t, testReduce) }

func testReduce(t *testing.T) {
	leaves := make([]Hash, 300)
	for i := range leaves {
		leaves[i] = LeafHash([]byte{byte(i), byte(i >> 8)})
	}
	h := NewHasher()
	for n := range len(leaves) + 1 {
		want := subtree(leaves[:n])
		if got := h.reduce(slices.Clone(leaves[:n])); got != want {
			t.Fatalf("%d leaves: root %x, want %x", n, got, want)
		}
		before := slices.Clone(leaves)
		if got := h.Root(leaves[:n]); got != want || !slices.Equal(leaves, before) {
			t.Fatalf("%d leaves: Hasher.Root %x, want %x, leaves kept: %v", n, got, want, slices.Equal(leaves, before))
		}
	}
}

func BenchmarkRoot(b *testing.B) {
	leaves := make([]Hash, 1<<16)
	for i := range leaves {
		leaves[i] = LeafHash([]byte{byte(i), byte(i >> 8)})
	}
	b.Run("Frontier", func(b *testing.B) {
		for b.Loop() {
			Root(leaves)
		}
	})
	saved16 := has16
	defer func() { has16 = saved16 }()
	for _, sixteen := range []bool{saved16, false} {
		has16 = sixteen
		b.Run(map[bool]string{true: "RootParallel-1", false: "RootParallel-1-two"}[sixteen], func(b *testing.B) {
			for b.Loop() {
				RootParallel(leaves, 1)
			}
		})
	}
}

// bothPaths runs f with each way of hashing this CPU has: sixteen
// messages at once (with the two-message code for the last few, and
// alone), two at once, and one at a time.
func bothPaths(t *testing.T, f func(t *testing.T)) {
	saved2, saved16 := has2x, has16
	defer func() { has2x, has16 = saved2, saved16 }()
	for _, p := range []struct {
		name         string
		two, sixteen bool
	}{{"sixteen", true, true}, {"sixteen-alone", false, true}, {"two", true, false}, {"one", false, false}} {
		if p.two && !saved2 || p.sixteen && !saved16 {
			t.Logf("%s: not on this CPU", p.name)
			continue
		}
		has2x, has16 = p.two, p.sixteen
		t.Run(p.name, f)
	}
}
