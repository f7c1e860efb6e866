package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// Posting groups. A build writes a list's postings in groups of up to
// groupMax: one key, kindGroup followed by the group's first posting key
// (its newest), whose value holds the others as deltas: a few bytes each
// instead of a key of its own (16 bytes of time and seq, Pebble's 8-byte
// trailer and the block's lengths). A build writes far fewer keys through
// Pebble's table writer and zstd, which had been a fifth of its CPU, and
// the index is a quarter smaller (docs/benchmarks.md).
//
// Add writes each posting as its own key, as before: a group's range
// holds no other group's postings (a build's groups part one sorted
// sequence), but an event added later may fall inside it. The groups are
// therefore apart, under their own first byte, and a lookup reads a
// list's groups and its single postings as two lists (Search merges its
// lists by time anyway). Within the groups, the one that may hold a
// given time is the last that starts at or before it.

// kindGroup is the first byte of a group's key.
const kindGroup = 'g'

// groupMax is the most postings in a group: a page of 100 events reads
// one or two groups, and a seek into one decodes at most this many.
const groupMax = 128

// postingTail is the end of a posting's key: its time (as ord) and seq.
const postingTail = 16

func tailPos(k []byte) pos {
	t := k[len(k)-postingTail:]
	return pos{binary.BigEndian.Uint64(t), binary.BigEndian.Uint64(t[8:])}
}

func (a pos) less(b pos) bool { return a.ord < b.ord || a.ord == b.ord && a.seq < b.seq }

// grouper gathers a sorted stream of posting keys into groups.
type grouper struct {
	key  []byte // kindGroup, then the group's first posting key
	val  []byte // the deltas from each posting to the next
	last pos
	n    int
}

// start begins a group with the posting key k.
func (g *grouper) start(k []byte) {
	g.key = append(append(g.key[:0], kindGroup), k...)
	g.val = g.val[:0]
	g.last = tailPos(k)
	g.n = 1
}

// add adds the posting key k, which follows the last one added, and
// reports whether it belongs to the group: it must be of the same list,
// and the group must have room. A posting given twice is kept once.
func (g *grouper) add(k []byte) bool {
	p := len(g.key) - 1 - postingTail // the list's prefix, in g.key from 1
	if len(k) != len(g.key)-1 || !bytes.Equal(k[:p], g.key[1:1+p]) {
		return false
	}
	c := tailPos(k)
	if c == g.last {
		return true
	}
	if g.n >= groupMax {
		return false
	}
	g.val = binary.AppendUvarint(g.val, c.ord-g.last.ord)
	g.val = binary.AppendUvarint(g.val, zigzag(int64(c.seq-g.last.seq)))
	g.last = c
	g.n++
	return true
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

var errGroup = errors.New("index: a posting group is damaged")

// appendGroup appends to dst the postings of the group that starts at
// first and goes on with val's deltas, in order.
func appendGroup(dst []pos, first pos, val []byte) ([]pos, error) {
	dst = append(dst, first)
	p := first
	for len(val) > 0 {
		d, n := binary.Uvarint(val)
		if n <= 0 {
			return dst, errGroup
		}
		s, m := binary.Uvarint(val[n:])
		if m <= 0 {
			return dst, errGroup
		}
		val = val[n+m:]
		q := pos{p.ord + d, p.seq + uint64(unzigzag(s))}
		if !p.less(q) {
			return dst, errGroup
		}
		dst = append(dst, q)
		p = q
	}
	return dst, nil
}

// groupedKinds are the kinds of postings a build writes in groups; the
// others (counters, tenants) it writes as they are.
var groupedKinds = []byte{kindActor, kindTarget, kindRequest, kindTime}

// openGroups opens prefix's groups as a list (openList), positioned on
// its first posting from start to end (ords, both inclusive); nil when
// there is none.
func openGroups(r pebble.Reader, prefix []byte, start, end uint64) (*postingList, error) {
	gp := append([]byte{kindGroup}, prefix...)
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: gp, UpperBound: postingBound(gp, end)})
	if err != nil {
		return nil, err
	}
	l := &postingList{it: it, prefix: len(gp), groups: true, start: start, end: end}
	// The group that holds start, if one does, is the last that starts
	// before it.
	from := binary.BigEndian.AppendUint64(append([]byte(nil), gp...), start)
	ok := it.SeekLT(from) && l.loadGroup()
	if !ok && l.err == nil {
		ok = it.SeekGE(from) && l.loadGroup()
	}
	if ok && l.nextInGroups() {
		return l, nil
	}
	return nil, l.close()
}

// loadGroup reads the group at the iterator; false when it is not one of
// this list's or is damaged (l.err).
func (l *postingList) loadGroup() bool {
	k := l.it.Key()
	if len(k) != l.prefix+postingTail {
		return false // another list's (a longer id sharing the prefix cannot happen: parts end in 0)
	}
	v, err := l.it.ValueAndErr()
	if err == nil {
		l.ps, err = appendGroup(l.ps[:0], tailPos(k), v)
	}
	if err != nil {
		l.err = fmt.Errorf("%w: key %q", err, k)
		return false
	}
	l.i = 0
	return true
}

// nextInGroups is next for a list of groups: the next posting from start
// to end, reading the next group when this one is done.
func (l *postingList) nextInGroups() bool {
	for {
		for l.i < len(l.ps) {
			p := l.ps[l.i]
			l.i++
			if p.ord > l.end {
				return false
			}
			if p.ord >= l.start {
				l.cur = p
				return true
			}
		}
		if !l.it.Next() || !l.loadGroup() {
			return false
		}
	}
}
