//go:build !amd64 || purego

package merkle

// Without the two-message SHA-256 of sha2x_amd64.s, leaves are hashed one
// at a time.

var has2x = false

func (h *Hasher) pair(a, b []byte) (Hash, Hash) { return h.Leaf(a), h.Leaf(b) }

func (h *Hasher) nodePair(a, b, c, d Hash) (Hash, Hash) { return NodeHash(a, b), NodeHash(c, d) }

// Nor is there the many-message SHA-256 of sha16_amd64.s.

var has16 = false

func (h *Hasher) appendLeavesWide(dst []Hash, data []byte) []Hash {
	for len(data) > 0 {
		var line []byte
		line, data = cutLine(data)
		dst = append(dst, h.Leaf(line))
	}
	return dst
}

func (h *Hasher) nodesWide(hs []Hash, i, n int) int { return i }
