package index

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// TestGroups: a sorted stream of posting keys becomes groups of one list
// each, of at most groupMax postings, each posting once, and the groups
// read back as the stream.
func TestGroups(t *testing.T) {
	var keys [][]byte
	posting := func(prefix string, ord, seq uint64) []byte {
		k := append([]byte(prefix), 0)
		k = binary.BigEndian.AppendUint64(k, ord)
		return binary.BigEndian.AppendUint64(k, seq)
	}
	for i := range 300 { // one list longer than two groups, seqs both ways
		keys = append(keys, posting("aUser\x0042", uint64(1000+i/3), uint64(5000-i+2*(i%3))))
	}
	keys = slices.Insert(keys, 128, keys[127]) // a posting twice, the last of a full group
	keys = append(keys, keys[len(keys)-1])     // and in a group with room
	keys = append(keys, posting("aUser\x00420", 7, 1), posting("aUser\x0043", 7, 1<<40), posting("aUser\x0043", 1<<62, 2))
	for i := 1; i < len(keys); i++ {
		if bytes.Compare(keys[i-1], keys[i]) > 0 {
			t.Fatalf("keys %d and %d out of order", i-1, i)
		}
	}
	type group struct {
		key []byte
		ps  []pos
	}
	var groups []group
	var g grouper
	flush := func() {
		ps, err := appendGroup(nil, tailPos(g.key), g.val)
		if err != nil {
			t.Fatal(err)
		}
		groups = append(groups, group{bytes.Clone(g.key), ps})
	}
	g.start(keys[0])
	for _, k := range keys[1:] {
		if !g.add(k) {
			flush()
			g.start(k)
		}
	}
	flush()
	want := slices.CompactFunc(slices.Clone(keys), bytes.Equal)
	var sizes []int
	var back [][]byte
	for _, gr := range groups {
		if gr.key[0] != kindGroup || !bytes.Equal(gr.key[1:], want[len(back)]) {
			t.Fatalf("group %q does not start with posting %d", gr.key, len(back))
		}
		sizes = append(sizes, len(gr.ps))
		for _, p := range gr.ps {
			back = append(back, posting(string(gr.key[1:len(gr.key)-postingTail-1]), p.ord, p.seq))
		}
	}
	if want := []int{128, 128, 44, 1, 2}; !slices.Equal(sizes, want) {
		t.Fatalf("group sizes %v, want %v", sizes, want)
	}
	if !slices.EqualFunc(back, want, bytes.Equal) {
		t.Fatalf("groups read back %d postings, want the %d given", len(back), len(want))
	}

	// Damaged values are errors, not postings out of order.
	first := pos{10, 10}
	for _, v := range [][]byte{{0x80}, {1}, {0, 0}, {0, 1}} {
		if _, err := appendGroup(nil, first, v); !errors.Is(err, errGroup) {
			t.Errorf("value %x: %v, want errGroup", v, err)
		}
	}
	if ps, err := appendGroup(nil, first, []byte{0, 2, 5, 1}); err != nil || !slices.Equal(ps, []pos{{10, 10}, {10, 11}, {15, 10}}) {
		t.Errorf("value 00020501: %v, %v", ps, err)
	}
}
