package index

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"slices"
)

// Sorting a run's entries by key is the largest cost of a build, and most
// of it went to comparing keys that share their first bytes (the kind, the
// tenant, "User", an id's first digits) through pointers into the chunks.
// sortEnts sorts by words instead: it loads each key's next 7 bytes into a
// word beside the entry's position, radix-sorts the words, and sorts again
// only the groups whose words are equal and whose keys go on, 7 bytes
// further in. Each level reads every key of its group once, and the
// sorting itself moves 16-byte words in order, not pointers to chase.

// sortWord is one entry's key window and its position in the group.
type sortWord struct {
	w uint64
	i uint32
}

// smallSort is the group size under which comparing keys is cheaper than a
// level of words.
const smallSort = 8

// radixMin is the group size from which a radix sort of the words beats
// comparing them (its counts cost 16 KiB to clear).
const radixMin = 512

// keyWord is key's 7 bytes from d, big-endian, in the top 56 bits, and
// in the low byte how many bytes remain from d, 8 for more than 7. Words
// order as the keys do from d on: a key that ends sorts before one that
// goes on with zero bytes because fewer bytes remain, and keys whose words
// are equal with 8 in the low byte are equal for 7 bytes and go on.
func keyWord(key []byte, d int) uint64 {
	rem := len(key) - d
	if rem >= 8 {
		return binary.BigEndian.Uint64(key[d:])&^0xff | 8
	}
	var w uint64
	for j := range rem {
		w |= uint64(key[d+j]) << (56 - 8*j)
	}
	return w | uint64(rem)
}

// sortScratch is the memory sortEnts works in, kept for the next sort.
type sortScratch struct {
	words, words2 []sortWord
	perm          []runEnt
}

// sortEnts sorts r.ents by key, as bytes.Compare orders them.
func (r *run) sortEnts(s *sortScratch) {
	if r.presorted() {
		return
	}
	n := len(r.ents)
	if cap(s.words) < n {
		s.words = make([]sortWord, n+n/4)
		s.words2 = make([]sortWord, n+n/4)
		s.perm = make([]runEnt, n+n/4)
	}
	r.sortFrom(r.ents, s.words[:n], s.words2[:n], s.perm[:n], 0)
}

// presorted puts r.ents in key order when they are in order already, or
// in the reverse order, and reports whether they were. The time postings
// of an archive written in time order are, newest first: each worker
// gets its batches in order, and their keys lead with the time, inverted.
// Checking reads the keys in the order they were added, next to each
// other in the chunks, and stops at the first key out of order, so the
// other kinds pay next to nothing for it.
func (r *run) presorted() bool {
	n := len(r.ents)
	if n < 2 {
		return true
	}
	c := bytes.Compare(r.key(r.ents[0]), r.key(r.ents[1]))
	for i := 2; i < n; i++ {
		if bytes.Compare(r.key(r.ents[i-1]), r.key(r.ents[i])) != c {
			return false
		}
	}
	if c > 0 {
		slices.Reverse(r.ents)
	}
	return true
}

// sortFrom sorts ents, whose keys are equal in their first d bytes, using
// ws, ws2 and perm (as long as ents) as scratch.
func (r *run) sortFrom(ents []runEnt, ws, ws2 []sortWord, perm []runEnt, d int) {
	for {
		if len(ents) <= smallSort {
			r.insertionSort(ents, d)
			return
		}
		first := keyWord(r.key(ents[0]), d)
		same := true
		for i, e := range ents {
			w := keyWord(r.key(e), d)
			ws[i] = sortWord{w, uint32(i)}
			same = same && w == first
		}
		if !same {
			break
		}
		if first&0xff != 8 {
			return // all equal
		}
		d += 7 // all share the next 7 bytes: no need to move anything
	}
	if len(ws) < radixMin {
		slices.SortFunc(ws, func(a, b sortWord) int { return cmp.Compare(a.w, b.w) })
	} else {
		radixSort(ws, ws2)
	}
	for k, w := range ws {
		perm[k] = ents[w.i]
	}
	copy(ents, perm)
	pf := 0 // the groups' keys are all over the chunks: prefetch ahead of them
	for a := 0; a < len(ws); {
		b := a + 1
		for b < len(ws) && ws[b].w == ws[a].w {
			b++
		}
		if b-a > 1 && ws[a].w&0xff == 8 {
			for pf = max(pf, a); pf < min(b+prefetchAhead, len(ents)); pf++ {
				r.prefetchAt(ents[pf], d+7)
			}
			r.sortFrom(ents[a:b], ws[a:b], ws2[a:b], perm[a:b], d+7)
		}
		a = b
	}
}

func (r *run) insertionSort(ents []runEnt, d int) {
	for i := 1; i < len(ents); i++ {
		e := ents[i]
		k := r.key(e)[d:]
		j := i
		for j > 0 && bytes.Compare(r.key(ents[j-1])[d:], k) > 0 {
			ents[j] = ents[j-1]
			j--
		}
		ents[j] = e
	}
}

// radixSort sorts ws by w, least significant byte first, skipping the
// bytes in which every word is alike; tmp is scratch as long as ws.
func radixSort(ws, tmp []sortWord) {
	var counts [8][256]int
	for _, w := range ws {
		v := w.w
		for b := range 8 {
			counts[b][byte(v>>(8*b))]++
		}
	}
	src, dst := ws, tmp
	for b := range 8 {
		c := &counts[b]
		if c[byte(src[0].w>>(8*b))] == len(src) {
			continue
		}
		var pos [256]int
		sum := 0
		for v := range 256 {
			pos[v] = sum
			sum += c[v]
		}
		shift := 8 * b
		for _, w := range src {
			v := byte(w.w >> shift)
			dst[pos[v]] = w
			pos[v]++
		}
		src, dst = dst, src
	}
	if &src[0] != &ws[0] {
		copy(ws, src)
	}
}
