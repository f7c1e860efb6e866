// Command fsynclat measures what one write + fdatasync costs on the disk
// under a directory, for several write sizes: the floor under kansa's
// acknowledgement latency (and any server's that fsyncs before answering).
//
//	go run ./bench/fsynclat -dir /tmp -n 200
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "`directory` on the disk to measure")
	n := flag.Int("n", 200, "writes per size")
	flag.Parse()
	f, err := os.CreateTemp(*dir, "fsynclat-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fmt.Printf("write + fdatasync on %s, %d times per size\n", filepath.Dir(f.Name()), *n)
	for _, size := range []int{4 << 10, 64 << 10, 512 << 10, 2 << 20} {
		buf := make([]byte, size)
		lat := make([]time.Duration, 0, *n)
		for range *n {
			start := time.Now()
			if _, err := f.Write(buf); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if err := fdatasync(f); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Microsecond) }
		fmt.Printf("%8d bytes: p50 %v  p90 %v  p99 %v  max %v\n", size, q(0.5), q(0.9), q(0.99), lat[len(lat)-1].Round(time.Microsecond))
	}
}
