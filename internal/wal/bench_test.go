package wal_test

import (
	"bytes"
	"context"
	"runtime"
	"testing"

	"github.com/kansa-audit/kansa/internal/wal"
)

// BenchmarkAppendSync models HTTP ingest: 8 goroutines each append 100
// records of 420 bytes, one Append per record, then Sync the last. One op
// is one such round of one goroutine (100 records).
func BenchmarkAppendSync(b *testing.B) {
	w := open(b, b.TempDir(), wal.Options{})
	rec := bytes.Repeat([]byte("e"), 420)
	const perRound = 100
	b.SetBytes(perRound * 420)
	b.ReportAllocs()
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		recs := [][]byte{rec}
		for pb.Next() {
			var last uint64
			for range perRound {
				_, l, err := w.Append(recs)
				if err != nil {
					b.Error(err)
					return
				}
				last = l
			}
			if err := w.Sync(context.Background(), last); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N*perRound)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(w.Fsyncs())/float64(b.N), "fsyncs/op")
}

// BenchmarkAppend measures one writer appending 420-byte records, one per
// Append, with the flusher writing in the background; durability is waited
// for once at the end.
func BenchmarkAppend(b *testing.B) {
	w := open(b, b.TempDir(), wal.Options{})
	recs := [][]byte{bytes.Repeat([]byte("e"), 420)}
	b.SetBytes(420)
	b.ReportAllocs()
	b.ResetTimer()
	var last uint64
	for b.Loop() {
		_, l, err := w.Append(recs)
		if err != nil {
			b.Fatal(err)
		}
		last = l
	}
	if err := w.Sync(context.Background(), last); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReader measures reading durable 420-byte records from a
// 100,000-record log (in the page cache), starting a new Reader at the end.
func BenchmarkReader(b *testing.B) {
	w := open(b, b.TempDir(), wal.Options{SegmentSize: 8 << 20})
	recs := make([][]byte, 1000)
	for i := range recs {
		recs[i] = bytes.Repeat([]byte("e"), 420)
	}
	const n = 100_000
	for w.Last() < n {
		if _, _, err := w.Append(recs); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Sync(context.Background(), n); err != nil {
		b.Fatal(err)
	}
	r := w.NewReader(1)
	b.SetBytes(420)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		idx, _, err := r.Next(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if idx == n {
			r.Close()
			r = w.NewReader(1)
		}
	}
	r.Close()
}
