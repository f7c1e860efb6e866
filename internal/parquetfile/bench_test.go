package parquetfile

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/parquet-go/parquet-go"

	"github.com/kansa-audit/kansa/internal/event"
)

// benchBatchBytes is the archive's default batch size (batch.max_bytes).
const benchBatchBytes = 10 << 20

var benchData struct {
	once    sync.Once
	batches [][][]byte // 10 MB batches of the synthetic mix
	events  int
	bytes   int // NDJSON bytes, newlines included
}

// batches returns n 10 MB batches of the synthetic mix (seed 42),
// generated once per process.
func batches(b *testing.B, n int) [][][]byte {
	b.Helper()
	benchData.once.Do(func() {
		m := newMix(42)
		for range 8 {
			bt := m.batch(benchBatchBytes)
			benchData.batches = append(benchData.batches, bt)
		}
	})
	for len(benchData.batches) < n {
		b.Fatalf("want %d batches, have %d", n, len(benchData.batches))
	}
	out := benchData.batches[:n]
	return out
}

func ndjsonSize(batch [][]byte) int {
	n := 0
	for _, l := range batch {
		n += len(l) + 1
	}
	return n
}

// partition splits a batch as the archive's default prefix does: by tenant
// and UTC day, keeping WAL order within each part. Parts come in a fixed
// order.
func partition(b testing.TB, batch [][]byte) [][][]byte {
	idx := map[string]int{}
	var parts [][][]byte
	for _, l := range batch {
		e, err := event.DecodeAliased(l)
		if err != nil {
			b.Fatal(err)
		}
		k := e.Tenant + "/" + e.Time.UTC().Format("2006-01-02")
		i, ok := idx[k]
		if !ok {
			i = len(parts)
			idx[k] = i
			parts = append(parts, nil)
		}
		parts[i] = append(parts[i], l)
	}
	return parts
}

// gzipNDJSON returns the size of lines as the archive writes them: NDJSON
// cut into segments of about 1 MiB, one gzip member each, at level.
func gzipNDJSON(b testing.TB, lines [][]byte, level int) int {
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, level)
	if err != nil {
		b.Fatal(err)
	}
	total := 0
	seg := make([]byte, 0, 1<<20)
	flush := func() {
		if len(seg) == 0 {
			return
		}
		out.Reset()
		zw.Reset(&out)
		zw.Write(seg)
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
		total += out.Len()
		seg = seg[:0]
	}
	for _, l := range lines {
		if len(seg)+len(l)+1 > 1<<20 {
			flush()
		}
		seg = append(append(seg, l...), '\n')
	}
	flush()
	return total
}

// BenchmarkWrite encodes one 10 MB batch of the synthetic mix per
// operation, as one file; MB/s counts NDJSON input bytes.
func BenchmarkWrite(b *testing.B) {
	bs := batches(b, 8)
	for _, s := range []Sort{SortActor, SortTarget, SortTime} {
		runtime.GC() // not this run's garbage: generating the batches'
		b.Run("sort="+sortName(s), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(ndjsonSize(bs[0])))
			events, i := 0, 0
			start := time.Now()
			for b.Loop() {
				if _, err := Write(io.Discard, bs[i%len(bs)], Options{Sort: s}); err != nil {
					b.Fatal(err)
				}
				events += len(bs[i%len(bs)])
				i++
			}
			b.ReportMetric(float64(events)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// BenchmarkArchiveBatch does what the archive would per batch: partition
// by tenant and day and write one Parquet file per partition, compared
// with gzip NDJSON of the same partitions at the archive's default level 1
// and at level 6. Sizes are reported per event, over 8 batches.
func BenchmarkArchiveBatch(b *testing.B) {
	bs := batches(b, 8)
	var parts [][][]byte
	events, raw := 0, 0
	for _, bt := range bs {
		parts = append(parts, partition(b, bt)...)
		events += len(bt)
		raw += ndjsonSize(bt)
	}
	b.Run("gzip-ndjson", func(b *testing.B) {
		for _, level := range []int{1, 6} {
			runtime.GC()
			b.Run(fmt.Sprintf("level=%d", level), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(raw))
				size := 0
				for b.Loop() {
					size = 0
					for _, p := range parts {
						size += gzipNDJSON(b, p, level)
					}
				}
				b.ReportMetric(float64(size)/float64(events), "B/event")
				b.ReportMetric(float64(raw)/float64(events), "ndjson-B/event")
				b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	})
	for _, s := range []Sort{SortActor, SortTarget, SortTime} {
		runtime.GC()
		b.Run("parquet/sort="+sortName(s), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(raw))
			var size int64
			files := 0
			for b.Loop() {
				size, files = 0, 0
				for _, p := range parts {
					st, err := Write(io.Discard, p, Options{Sort: s})
					if err != nil {
						b.Fatal(err)
					}
					size += st.Bytes
					files++
				}
			}
			b.ReportMetric(float64(size)/float64(events), "B/event")
			b.ReportMetric(float64(files)/float64(len(bs)), "files/batch")
			b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

func sortName(s Sort) string {
	return map[Sort]string{SortTarget: "target", SortActor: "actor", SortTime: "time"}[s]
}

// BenchmarkColumnBytes reports where a Parquet archive's bytes go, per
// event over 8 batches written as the archive writes them (one file per
// tenant/day partition): each column chunk (pages, dictionary, headers),
// the bloom filters, the column and offset indexes, and the footers. The
// parts add up to the files' size.
func BenchmarkColumnBytes(b *testing.B) {
	bs := batches(b, 8)
	for b.Loop() {
		parts := map[string]int64{}
		var total, events int64
		for _, bt := range bs {
			for _, p := range partition(b, bt) {
				var buf bytes.Buffer
				st, err := Write(&buf, p, Options{})
				if err != nil {
					b.Fatal(err)
				}
				total += st.Bytes
				events += int64(st.Rows)
				f, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
				if err != nil {
					b.Fatal(err)
				}
				data := buf.Bytes()
				parts["footer"] += int64(binary.LittleEndian.Uint32(data[len(data)-8:])) + 8
				parts["magic"] += 4
				for _, rg := range f.Metadata().RowGroups {
					for _, cc := range rg.Columns {
						name := cc.MetaData.PathInSchema[0]
						parts[name] += cc.MetaData.TotalCompressedSize
						parts["bloom"] += int64(cc.MetaData.BloomFilterLength)
						parts["index"] += int64(cc.ColumnIndexLength + cc.OffsetIndexLength)
					}
				}
			}
		}
		var sum int64
		for name, n := range parts {
			sum += n
			b.ReportMetric(float64(n)/float64(events), name+"-B/event")
		}
		if sum != total {
			b.Fatalf("parts add up to %d bytes, files have %d", sum, total)
		}
		b.ReportMetric(float64(total)/float64(events), "B/event")
	}
}
