// Command gzmember measures what the size of the archive's gzip members
// costs in bytes: it compresses NDJSON from stdin (cut at line ends) as the
// archive does, at gzip level 1, in members of each size, and prints bytes
// per line and the time taken. Smaller members can be read alone (an
// index could point into them); the question is what they cost, in bytes
// and in the time to inflate one member to fetch one of its lines (random
// members, through internal/gunzip as lookups would, data in memory).
//
//	go run ./bench/indexeval -engine ndjson -n 300000 | go run ./bench/gzmember
package main

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"math/rand/v2"
	"slices"

	"github.com/klauspost/compress/gzip"

	"github.com/kansa-audit/kansa/internal/gunzip"
)

func main() {
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		log.Fatal(err)
	}
	lines := bytes.Count(data, []byte{'\n'})
	if lines == 0 {
		log.Fatal("no lines on stdin")
	}
	fmt.Printf("%d lines, %.1f bytes each\n", lines, float64(len(data))/float64(lines))
	for _, member := range []int{1 << 20, 256 << 10, 64 << 10, 32 << 10, 16 << 10} {
		var out bytes.Buffer
		start := time.Now()
		n := 0
		starts := []int{0}
		for off := 0; off < len(data); n++ {
			end := min(off+member, len(data))
			if i := bytes.LastIndexByte(data[off:end], '\n'); i >= 0 && end < len(data) {
				end = off + i + 1
			}
			zw, _ := gzip.NewWriterLevel(&out, 1)
			zw.Write(data[off:end])
			if err := zw.Close(); err != nil {
				log.Fatal(err)
			}
			off = end
			starts = append(starts, out.Len())
		}
		took := time.Since(start)
		// Inflate random members, as a lookup fetching one line would.
		z := out.Bytes()
		d := gunzip.NewDecoder()
		r := rand.New(rand.NewPCG(1, 2))
		var buf []byte
		const reads = 20000
		times := make([]time.Duration, reads)
		for i := range times {
			k := r.IntN(n)
			t0 := time.Now()
			if buf, err = d.Append(buf[:0], z[starts[k]:starts[k+1]]); err != nil {
				log.Fatal(err)
			}
			times[i] = time.Since(t0)
		}
		slices.Sort(times)
		fmt.Printf("members of %4d KiB: %6.1f bytes/line, %d members, %v; inflating one: p50 %v, p99 %v\n",
			member>>10, float64(out.Len())/float64(lines), n, took.Round(time.Millisecond),
			times[reads/2], times[reads*99/100])
	}
}
