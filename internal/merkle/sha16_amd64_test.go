//go:build amd64 && !purego

package merkle

import (
	"fmt"
	"testing"
)

// Every lane of every pass reads inside the padded messages, busy or not:
// blockLanes reads n blocks from each lane's offset, and a stray lane's
// result would be dropped, so only this check sees it.
func TestLanesInBounds(t *testing.T) {
	if !has16 {
		t.Skip("no AVX-512 here")
	}
	passes := 0
	checkLanes = func(l *lanes, n int) {
		passes++
		for i, o := range l.offs {
			if end := int(o) + 64*n; end > len(l.pad) {
				panic(fmt.Sprintf("lane %d (%d blocks left) reads to %d of %d bytes", i, l.left[i], end, len(l.pad)))
			}
		}
	}
	defer func() { checkLanes = nil }()
	bothPaths(t, testAppendLeaves)
	if passes == 0 {
		t.Fatal("no pass of blockLanes was checked")
	}
}
