//go:build !amd64 || purego

package merkle

// Without the two-message SHA-256 of sha2x_amd64.s, leaves are hashed one
// at a time.

var has2x = false

func (h *Hasher) pair(a, b []byte) (Hash, Hash) { return h.Leaf(a), h.Leaf(b) }

func (h *Hasher) nodePair(a, b, c, d Hash) (Hash, Hash) { return NodeHash(a, b), NodeHash(c, d) }
