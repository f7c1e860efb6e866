//go:build amd64 && !purego

package merkle

import (
	"slices"
	"sync"
)

// nLanes is how many messages blockLanes hashes at once: one in each
// 32-bit lane of an AVX-512 register.
const nLanes = 16

// blockLanes runs n SHA-256 blocks through each of the nLanes states in
// s, word w of lane i at s[w][i]: lane i's blocks are at base+offs[i],
// and offs[i] moves on n blocks. Then it writes each lane's state as a
// digest to dig (sha16_amd64.s).
//
//go:noescape
func blockLanes(s *[8][nLanes]uint32, base *byte, offs *[nLanes]uint32, n int, dig *[nLanes]Hash)

func xgetbv() (eax, edx uint32)

// has16 is whether this CPU has AVX-512 F and BW, and the OS saves their
// registers. Every caller of blockLanes checks it; tests turn it off to
// run the other paths.
var has16 = func() bool {
	if max, _, _, _ := cpuid(0, 0); max < 7 {
		return false
	}
	if _, _, c1, _ := cpuid(1, 0); c1&(1<<27) == 0 { // OSXSAVE
		return false
	}
	// XMM, YMM, the opmasks and both halves of the ZMM registers.
	if a, _ := xgetbv(); a&0xe6 != 0xe6 {
		return false
	}
	_, b7, _, _ := cpuid(7, 0)
	return b7&(1<<16) != 0 && b7&(1<<30) != 0
}()

// lanes is the many-message hashing's state.
type lanes struct {
	s    [8][nLanes]uint32
	offs [nLanes]uint32
	left [nLanes]int // blocks left of lane i's message; 0 when it has none
	dst  [nLanes]int // where lane i's digest goes
	dig  [nLanes]Hash
	pad  []byte // the padded messages of one chunk, one after another
	msgs []span

	nodes []byte // nLanes padded tree nodes
}

// ivLanes and nodeOffs are the lanes' initial states, and their offsets
// in lanes.nodes.
var ivLanes, nodeOffs = func() (s [8][nLanes]uint32, offs [nLanes]uint32) {
	for i := range nLanes {
		for w := range iv {
			s[w][i] = iv[w]
		}
		offs[i] = uint32(128 * i)
	}
	return s, offs
}()

// span is one padded message in lanes.pad.
type span struct{ off, blocks int }

// chunkWide is about how many padded bytes appendLeavesWide gathers before
// hashing them: a few hundred lines, in the core's second-level cache.
const chunkWide = 128 << 10

// minLanes is the fewest messages worth a pass of blockLanes while there
// are two-message SHA extensions to finish the rest with: a pass costs
// the same however many lanes hold a message.
const minLanes = 8

// checkLanes, when tests set it, sees each pass of blockLanes over
// l.pad before it runs.
var checkLanes func(l *lanes, n int)

// lanesPool keeps lanes, with their buffers, between calls: Hashers are
// made per batch and per goroutine, and a new one's first chunk would
// otherwise allocate and clear them again.
var lanesPool = sync.Pool{New: func() any { return new(lanes) }}

// appendLeavesWide is AppendLeaves nLanes lines at a time.
func (h *Hasher) appendLeavesWide(dst []Hash, data []byte) []Hash {
	l := lanesPool.Get().(*lanes)
	defer lanesPool.Put(l)
	for len(data) > 0 {
		l.pad, l.msgs = l.pad[:0], l.msgs[:0]
		// A line longer than a chunk is hashed on its own, after the
		// chunk before it: lanes gain nothing on it, and the pool would
		// keep a buffer its size. It also keeps every offset in l.pad
		// far below the 2^32 at which blockLanes' would wrap.
		var long []byte
		for len(data) > 0 && len(l.pad) < chunkWide {
			line, rest := cutLine(data)
			data = rest
			if len(line) > chunkWide {
				long = line
				break
			}
			off := len(l.pad)
			l.pad = padLeaf(l.pad, line)
			l.msgs = append(l.msgs, span{off, (len(l.pad) - off) / 64})
		}
		if len(l.msgs) > 0 {
			n := len(dst)
			dst = slices.Grow(dst, len(l.msgs))[:n+len(l.msgs)]
			l.run(dst[n:])
		}
		if long != nil {
			dst = append(dst, h.Leaf(long))
		}
	}
	return dst
}

// run hashes l.msgs into out, in order. Each lane takes the next message
// as its last one ends; when fewer than minLanes are left busy, the two
// message code finishes them from where they are.
func (l *lanes) run(out []Hash) {
	next, busy := 0, 0
	start := func(i int) {
		m := l.msgs[next]
		for w := range iv {
			l.s[w][i] = iv[w]
		}
		l.offs[i], l.left[i], l.dst[i] = uint32(m.off), m.blocks, next
		next++
		busy++
	}
	for i := range nLanes {
		l.left[i], l.offs[i] = 0, 0
		if next < len(l.msgs) {
			start(i)
		}
	}
	least := 1
	if has2x {
		least = minLanes
	}
	for busy >= least {
		n := 1 << 30
		for _, b := range l.left {
			if b > 0 {
				n = min(n, b)
			}
		}
		// A lane without a message reads blocks from offset 0 on, no
		// further than a busy lane's message: its result is dropped.
		if checkLanes != nil {
			checkLanes(l, n)
		}
		blockLanes(&l.s, &l.pad[0], &l.offs, n, &l.dig)
		for i := range nLanes {
			if l.left[i] == 0 {
				l.offs[i] = 0
				continue
			}
			if l.left[i] -= n; l.left[i] > 0 {
				continue
			}
			out[l.dst[i]] = l.dig[i]
			busy--
			l.offs[i] = 0
			if next < len(l.msgs) {
				start(i)
			}
		}
	}
	// The rest, two at a time.
	var busyLanes [nLanes]int
	pending := busyLanes[:0]
	for i := range nLanes {
		if l.left[i] > 0 {
			pending = append(pending, i)
		}
	}
	for k := 0; k < len(pending); k += 2 {
		i := pending[k]
		si := l.state(i)
		var sj [8]uint32 // a last odd lane runs beside nothing
		var rj []byte
		if k+1 < len(pending) {
			sj, rj = l.state(pending[k+1]), l.rest(pending[k+1])
		}
		run2(&si, &sj, l.rest(i), rj)
		out[l.dst[i]] = digest(&si)
		if rj != nil {
			out[l.dst[pending[k+1]]] = digest(&sj)
		}
	}
}

// state is lane i's state; rest is the blocks its message has left.
func (l *lanes) state(i int) [8]uint32 {
	var s [8]uint32
	for w := range s {
		s[w] = l.s[w][i]
	}
	return s
}

func (l *lanes) rest(i int) []byte {
	o := int(l.offs[i])
	return l.pad[o : o+64*l.left[i]]
}

// nodesWide sets hs[k] = NodeHash(hs[2k], hs[2k+1]) for k from i on, up
// to n, nLanes at a time while there are as many, and returns the k it
// stopped at.
func (h *Hasher) nodesWide(hs []Hash, i, n int) int {
	if !has16 || n-i < nLanes {
		return i
	}
	l := lanesPool.Get().(*lanes)
	defer lanesPool.Put(l)
	if l.nodes == nil {
		l.nodes = make([]byte, nLanes*128)
		for k := range nLanes {
			padNode((*[128]byte)(l.nodes[128*k:]), &Hash{}, &Hash{})
		}
	}
	for ; i+nLanes <= n; i += nLanes {
		// Only the hashes change from one node to the next.
		for k := range nLanes {
			o := 128 * k
			copy(l.nodes[o+1:o+33], hs[2*(i+k)][:])
			copy(l.nodes[o+33:o+65], hs[2*(i+k)+1][:])
		}
		l.s, l.offs = ivLanes, nodeOffs
		// Every input is read: the digests may overwrite them.
		blockLanes(&l.s, &l.nodes[0], &l.offs, 2, (*[nLanes]Hash)(hs[i:]))
	}
	return i
}
