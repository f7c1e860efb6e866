// Package merkle is the Merkle tree of RFC 9162 (Certificate Transparency
// 2.0, section 2.1) over SHA-256: leaf hashes, tree heads, a frontier that
// grows a tree one leaf at a time in O(log n) memory, and inclusion proofs.
//
// It is the one hashing scheme of kansa's tamper evidence: an event's leaf
// is the hash of its exact stored line, a file's root is the tree over its
// lines, and each (writer, log) is a tree over batch leaves
// (internal/chain). Anyone can recompute every hash with RFC 9162's
// definitions and no kansa code.
package merkle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"hash"
	"math/bits"
	"sync"
	"sync/atomic"
)

// Hash is a SHA-256 digest.
type Hash [sha256.Size]byte

// LeafHash is SHA-256(0x00 || data).
func LeafHash(data []byte) Hash {
	var h Hash
	d := sha256.New()
	d.Write([]byte{0})
	d.Write(data)
	d.Sum(h[:0])
	return h
}

// NodeHash is SHA-256(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var buf [1 + 2*sha256.Size]byte
	buf[0] = 1
	copy(buf[1:], left[:])
	copy(buf[1+sha256.Size:], right[:])
	return sha256.Sum256(buf[:])
}

// EmptyRoot is the root of a tree with no leaves: SHA-256 of nothing.
var EmptyRoot = Hash(sha256.Sum256(nil))

var leafPrefix = []byte{0}

// Hasher computes leaf hashes without allocating; it is not safe for
// concurrent use.
type Hasher struct {
	d       hash.Hash
	buf     []byte
	pa, pb  []byte // padded messages for pair
	scratch []Hash // Root's copy of the leaves
}

// NewHasher returns a Hasher.
func NewHasher() *Hasher { return &Hasher{d: sha256.New(), buf: make([]byte, 0, sha256.Size)} }

// Leaf returns LeafHash(data).
func (h *Hasher) Leaf(data []byte) Hash {
	h.d.Reset()
	h.d.Write(leafPrefix)
	h.d.Write(data)
	var out Hash
	copy(out[:], h.d.Sum(h.buf[:0]))
	return out
}

// AppendLeaves appends to dst the leaf hash of each line of data: every
// '\n' ends a line (an empty one too), and bytes after the last '\n' are
// a line of their own. Lines are hashed two at a time where the CPU has
// the SHA extensions, which nearly doubles the rate, and sixteen at a
// time where it has AVX-512.
func (h *Hasher) AppendLeaves(dst []Hash, data []byte) []Hash {
	if has16 {
		return h.appendLeavesWide(dst, data)
	}
	for len(data) > 0 {
		a, rest := cutLine(data)
		if len(rest) == 0 {
			dst = append(dst, h.Leaf(a))
			data = rest
			continue
		}
		b, rest := cutLine(rest)
		ha, hb := h.pair(a, b)
		dst = append(dst, ha, hb)
		data = rest
	}
	return dst
}

func cutLine(data []byte) (line, rest []byte) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return data[:i], data[i+1:]
	}
	return data, nil
}

// Frontier is a tree being grown leaf by leaf: for a tree of Size leaves it
// keeps the roots of the complete subtrees that Size's binary digits name,
// largest first. The zero value is an empty tree.
type Frontier struct {
	Size   uint64
	Hashes []Hash
}

// Append adds the leaf hash leaf.
func (f *Frontier) Append(leaf Hash) {
	f.Hashes = append(f.Hashes, leaf)
	// Each trailing 1 bit of the old size is a complete subtree that now
	// has a sibling of its own size: merge them.
	for s := f.Size; s&1 == 1; s >>= 1 {
		n := len(f.Hashes)
		f.Hashes[n-2] = NodeHash(f.Hashes[n-2], f.Hashes[n-1])
		f.Hashes = f.Hashes[:n-1]
	}
	f.Size++
}

// Root returns the tree head of the leaves appended so far.
func (f *Frontier) Root() Hash {
	if len(f.Hashes) == 0 {
		return EmptyRoot
	}
	h := f.Hashes[len(f.Hashes)-1]
	for i := len(f.Hashes) - 2; i >= 0; i-- {
		h = NodeHash(f.Hashes[i], h)
	}
	return h
}

// Clone returns a copy that does not share memory with f.
func (f *Frontier) Clone() Frontier {
	return Frontier{Size: f.Size, Hashes: append([]Hash(nil), f.Hashes...)}
}

// Valid reports whether f's hashes fit its size.
func (f *Frontier) Valid() bool { return bits.OnesCount64(f.Size) == len(f.Hashes) }

// Root returns the tree head over leaves (leaf hashes, in order).
func Root(leaves []Hash) Hash {
	var f Frontier
	for _, l := range leaves {
		f.Append(l)
	}
	return f.Root()
}

// Root returns the tree head over leaves, as Root does, many nodes at a
// time where the CPU allows; leaves stay as they are.
func (h *Hasher) Root(leaves []Hash) Hash {
	h.scratch = append(h.scratch[:0], leaves...)
	return h.reduce(h.scratch)
}

// rootChunk is how many leaves RootParallel gives a goroutine at a time: a
// power of two, so that each chunk but the last is a complete subtree.
const rootChunk = 1 << 12

// RootParallel is Root(leaves) on up to workers goroutines. The tree over
// n leaves is the tree over its chunks' roots, each chunk a complete
// subtree of rootChunk leaves and the last one the rest: every split RFC
// 9162 makes above the chunks falls at a multiple of rootChunk.
func RootParallel(leaves []Hash, workers int) Hash {
	chunks := (len(leaves) + rootChunk - 1) / rootChunk
	if chunks < 2 || workers < 2 {
		return NewHasher().Root(leaves)
	}
	roots := make([]Hash, chunks)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, chunks) {
		wg.Go(func() {
			h, scratch := NewHasher(), make([]Hash, rootChunk)
			for c := int(next.Add(1)) - 1; c < chunks; c = int(next.Add(1)) - 1 {
				n := copy(scratch, leaves[c*rootChunk:min((c+1)*rootChunk, len(leaves))])
				roots[c] = h.reduce(scratch[:n])
			}
		})
	}
	wg.Wait()
	return NewHasher().reduce(roots)
}

// reduce returns the root over the leaf hashes hs, overwriting hs. It
// builds the tree a level at a time, two nodes at once, and carries a
// level's odd last node up as it is: the same tree as RFC 9162's
// recursive split.
func (h *Hasher) reduce(hs []Hash) Hash {
	if len(hs) == 0 {
		return EmptyRoot
	}
	for len(hs) > 1 {
		n := len(hs) / 2
		i := h.nodesWide(hs, 0, n)
		for ; i+1 < n; i += 2 {
			hs[i], hs[i+1] = h.nodePair(hs[2*i], hs[2*i+1], hs[2*i+2], hs[2*i+3])
		}
		if i < n {
			hs[i] = NodeHash(hs[2*i], hs[2*i+1])
		}
		if len(hs)%2 == 1 {
			hs[n] = hs[len(hs)-1]
			n++
		}
		hs = hs[:n]
	}
	return hs[0]
}

// split is the largest power of two smaller than n (n > 1).
func split(n int) int { return 1 << (bits.Len(uint(n-1)) - 1) }

// subtree returns the tree head over leaves by RFC 9162's recursive
// definition; used by proofs.
func subtree(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return EmptyRoot
	case 1:
		return leaves[0]
	}
	k := split(len(leaves))
	return NodeHash(subtree(leaves[:k]), subtree(leaves[k:]))
}

// InclusionProof returns the audit path of leaf i in the tree over leaves
// (RFC 9162 section 2.1.3.1), from the leaf up.
func InclusionProof(leaves []Hash, i int) ([]Hash, error) {
	if i < 0 || i >= len(leaves) {
		return nil, errors.New("merkle: leaf index out of range")
	}
	var path []Hash
	var walk func(l []Hash, i int)
	walk = func(l []Hash, i int) {
		if len(l) <= 1 {
			return
		}
		k := split(len(l))
		if i < k {
			walk(l[:k], i)
			path = append(path, subtree(l[k:]))
		} else {
			walk(l[k:], i-k)
			path = append(path, subtree(l[:k]))
		}
	}
	walk(leaves, i)
	return path, nil
}

// RootFromInclusion computes the root that the audit path proves leaf i of
// a tree of size n hashes to (RFC 9162 section 2.1.3.2). Compare it with a
// signed tree head.
func RootFromInclusion(leaf Hash, i, n uint64, path []Hash) (Hash, error) {
	if i >= n {
		return Hash{}, errors.New("merkle: leaf index beyond the tree")
	}
	fn, sn := i, n-1
	r := leaf
	for _, p := range path {
		if sn == 0 {
			return Hash{}, errors.New("merkle: audit path longer than the tree")
		}
		if fn&1 == 1 || fn == sn {
			r = NodeHash(p, r)
			for fn&1 == 0 && fn != 0 {
				fn >>= 1
				sn >>= 1
			}
		} else {
			r = NodeHash(r, p)
		}
		fn >>= 1
		sn >>= 1
	}
	if sn != 0 {
		return Hash{}, errors.New("merkle: audit path shorter than the tree")
	}
	return r, nil
}
