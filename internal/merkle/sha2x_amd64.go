//go:build amd64 && !purego

package merkle

import "encoding/binary"

//go:generate go run ./gen

// block2 runs n SHA-256 blocks of pa through state sa and n of pb through
// sb, the two interleaved (sha2x_amd64.s).
//
//go:noescape
func block2(sa, sb *[8]uint32, pa, pb *byte, n int)

func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// has2x is whether this CPU has the SHA extensions (and the SSSE3 and
// SSE4.1 that block2 also uses).
// Every caller of block2 checks it; tests turn it off to run the other
// path.
var has2x = func() bool {
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	_, _, c1, _ := cpuid(1, 0)
	_, b7, _, _ := cpuid(7, 0)
	return c1&(1<<9) != 0 && c1&(1<<19) != 0 && b7&(1<<29) != 0
}()

var iv = [8]uint32{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}

// pair returns LeafHash(a) and LeafHash(b), hashed together.
func (h *Hasher) pair(a, b []byte) (Hash, Hash) {
	if !has2x {
		return h.Leaf(a), h.Leaf(b)
	}
	h.pa, h.pb = padLeaf(h.pa[:0], a), padLeaf(h.pb[:0], b)
	sa, sb := iv, iv
	run2(&sa, &sb, h.pa, h.pb)
	return digest(&sa), digest(&sb)
}

// run2 runs the whole blocks of a through sa and those of b through sb.
func run2(sa, sb *[8]uint32, a, b []byte) {
	na, nb := len(a)/64, len(b)/64
	n := min(na, nb)
	if n > 0 {
		block2(sa, sb, &a[0], &b[0], n)
	}
	// The longer message's last blocks run beside a copy of themselves:
	// one message alone takes nearly as long as two.
	if na > n {
		spare := *sa
		block2(sa, &spare, &a[n*64], &a[n*64], na-n)
	} else if nb > n {
		spare := *sb
		block2(sb, &spare, &b[n*64], &b[n*64], nb-n)
	}
}

// nodePair returns NodeHash(a, b) and NodeHash(c, d), hashed together.
func (h *Hasher) nodePair(a, b, c, d Hash) (Hash, Hash) {
	if !has2x {
		return NodeHash(a, b), NodeHash(c, d)
	}
	var pa, pb [128]byte
	padNode(&pa, &a, &b)
	padNode(&pb, &c, &d)
	sa, sb := iv, iv
	block2(&sa, &sb, &pa[0], &pb[0], 2)
	return digest(&sa), digest(&sb)
}

// padNode fills p with 0x01 || l || r and SHA-256's padding: 65 bytes
// make two blocks.
func padNode(p *[128]byte, l, r *Hash) {
	p[0] = 1
	copy(p[1:], l[:])
	copy(p[33:], r[:])
	p[65] = 0x80
	binary.BigEndian.PutUint64(p[120:], 65*8)
}

var zeros [64]byte

// padLeaf appends 0x00 || data with SHA-256's padding to dst.
func padLeaf(dst, data []byte) []byte {
	dst = append(dst, 0)
	dst = append(dst, data...)
	dst = append(dst, 0x80)
	dst = append(dst, zeros[:(56-len(dst)%64+64)%64]...)
	return binary.BigEndian.AppendUint64(dst, uint64(1+len(data))*8)
}

func digest(s *[8]uint32) Hash {
	var h Hash
	for i, w := range s {
		binary.BigEndian.PutUint32(h[4*i:], w)
	}
	return h
}
