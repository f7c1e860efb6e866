// Command gzmember measures what the size of the archive's gzip members
// costs in bytes: it compresses NDJSON from stdin (cut at line ends) as the
// archive does, at gzip level 1, in members of each size, and prints bytes
// per line and the time taken. Smaller members can be read alone (an
// index could point into them); the question is what they cost.
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

	"github.com/klauspost/compress/gzip"
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
	for _, member := range []int{1 << 20, 256 << 10, 64 << 10, 32 << 10} {
		var out bytes.Buffer
		start := time.Now()
		n := 0
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
		}
		fmt.Printf("members of %4d KiB: %6.1f bytes/line, %d members, %v\n",
			member>>10, float64(out.Len())/float64(lines), n, time.Since(start).Round(time.Millisecond))
	}
}
