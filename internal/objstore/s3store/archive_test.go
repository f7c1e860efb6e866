package s3store

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
)

// TestArchiveOnS3 writes batches with the archive's own writer to S3 and to
// a local directory: the same keys (Hive partitions, escaped tenants,
// manifests) and the same bytes, read back with the archive's readers. A
// retried batch is a success; a second collector with the same writer id
// writing another batch over the same WAL range is refused.
func TestArchiveOnS3(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s3s := newStore(t, Config{Bucket: newBucket(t, false), Prefix: "kansa"})
	dir, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}

	d1 := time.Date(2024, 8, 6, 18, 0, 0, 0, time.UTC) // the 7th in Tokyo
	d2 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	entry := func(typ record.Type, ts time.Time, tenant, body string) record.Entry {
		return record.Entry{Type: typ, Time: ts.UnixMicro(), Tenant: []byte(tenant), Source: []byte("stdin"), Body: []byte(body)}
	}
	batch := &archive.Batch{First: 10, Last: 14, Closed: d1, Entries: []record.Entry{
		entry(record.TypeEvent, d1, "acme", `{"id":"1"}`),
		entry(record.TypeEvent, d2, "acme", `{"id":"2"}`),
		entry(record.TypeEvent, d1, "a/b", `{"id":"3"}`),
		entry(record.TypeReject, d1, "default", `{"error_type":"decode","error":"bad","line":"{"}`),
		entry(record.TypeEvent, d1, "acme", `{"id":"4"}`),
	}}
	for i := range 2000 { // a second batch big enough for several gzip members
		batch.Entries = append(batch.Entries, entry(record.TypeEvent, d1, "bulk", fmt.Sprintf(`{"id":"b%d","pad":"%0900d"}`, i, i)))
	}
	batch.Last = batch.First + uint64(len(batch.Entries)) - 1

	write := func(store objstore.Store) *archive.Manifest {
		t.Helper()
		w, err := archive.NewWriter(archive.Config{TimeZone: "Asia/Tokyo"}, store, "w1")
		if err != nil {
			t.Fatal(err)
		}
		m, err := w.Write(ctx, batch)
		if err != nil {
			t.Fatalf("write to %s: %v", store, err)
		}
		return m
	}
	m := write(s3s)
	write(dir)

	// The same objects, byte for byte, as in a local directory.
	all := func(store objstore.Store) map[string][]byte {
		t.Helper()
		objs := map[string][]byte{}
		err := store.List(ctx, "", func(k string, _ int64) error {
			var err error
			objs[k], err = store.Get(ctx, k)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return objs
	}
	onS3, onDir := all(s3s), all(dir)
	if len(onS3) != len(onDir) || len(onS3) < 5 {
		t.Fatalf("%d objects on S3, %d in the directory", len(onS3), len(onDir))
	}
	for k, v := range onDir {
		if !bytes.Equal(onS3[k], v) {
			t.Errorf("%s differs between S3 and the directory", k)
		}
	}
	if _, ok := onS3["tenant=a%2Fb/year=2024/month=08/day=07/kansa-w1-00000000000000000010-00000000000000002014.ndjson.gz"]; !ok {
		t.Errorf("no object for tenant a/b in its escaped partition; keys: %q", slices.Sorted(func(yield func(string) bool) {
			for k := range onS3 {
				if !yield(k) {
					return
				}
			}
		}))
	}

	// Read back as search and verify do: manifests first, then every file.
	var ms []*archive.Manifest
	if err := archive.Manifests(ctx, s3s, func(m *archive.Manifest) error { ms = append(ms, m); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(ms) != 1 || ms[0].Writer != "w1" || ms[0].First != batch.First || ms[0].Last != batch.Last || len(ms[0].Files) != len(m.Files) {
		t.Fatalf("manifests read back: %+v", ms)
	}
	lines := 0
	for _, f := range ms[0].Files {
		data, err := s3s.Get(ctx, f.Key)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 {
			t.Errorf("%s: SHA-256 differs from the manifest's", f.Key)
		}
		if f.Format != "ndjson.gz" {
			continue
		}
		n := 0
		if err := archive.ReadLines(ctx, s3s, f.Key, func([]byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		if n != f.Records {
			t.Errorf("%s: %d lines, manifest says %d", f.Key, n, f.Records)
		}
		lines += n
	}
	if lines != len(batch.Entries) {
		t.Errorf("%d lines in the archive, %d entries in the batch", lines, len(batch.Entries))
	}

	// The batcher retries a batch after a failure or a crash: same bytes,
	// success, nothing new.
	write(s3s)
	if n := len(all(s3s)); n != len(onS3) {
		t.Errorf("the retry left %d objects, want %d", n, len(onS3))
	}

	// Another collector configured with the same writer id archives other
	// events under the same WAL range: refused, not overwritten.
	other := *batch
	other.Entries = slices.Clone(batch.Entries)
	other.Entries[0] = entry(record.TypeEvent, d1, "acme", `{"id":"someone else's"}`)
	w, _ := archive.NewWriter(archive.Config{TimeZone: "Asia/Tokyo"}, s3s, "w1")
	if _, err := w.Write(ctx, &other); !errors.Is(err, ErrConflict) {
		t.Fatalf("a second collector with writer id w1: %v, want ErrConflict", err)
	}
	for k, v := range all(s3s) {
		if !bytes.Equal(v, onS3[k]) {
			t.Errorf("%s was changed by the conflicting writer", k)
		}
	}
}

// BenchmarkArchiveToMinIO is the archive writer putting 10 MB batches of
// audit events into a bucket, as gzip NDJSON alone and with Parquet beside
// it: how many events/s the archive stage keeps up with on S3.
func BenchmarkArchiveToMinIO(b *testing.B) {
	ctx := b.Context()
	tm := time.Date(2024, 8, 6, 9, 0, 0, 0, time.UTC)
	var entries []record.Entry
	size := 0
	for i := 0; size < 10<<20; i++ {
		body := fmt.Sprintf(`{"schema":"kansa.audit/v1","id":"hl-%012d","time":"2024-08-06T09:00:%02d.%06dZ","action":"update","actor":{"type":"User","id":"%d"},"target":{"type":"Order","id":"%d"},"changes":{"status":["paid","shipped"]},"context":{"ip":"203.0.113.7","request_id":"0d3c6a7e-6b1f-4c2a-9a55-%012d","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","endpoint":"PATCH /orders/:id"},"source":"app:bench","tenant":"default","outcome":"success","received_at":"2024-08-06T09:00:00.000000Z"}`, i, i%60, i%1000000, i%977, i, i)
		entries = append(entries, record.Entry{Type: record.TypeEvent, Time: tm.UnixMicro(), Tenant: []byte("default"), Source: []byte("app:bench"), Body: []byte(body)})
		size += len(body)
	}
	spread := make([]record.Entry, len(entries)) // the same events over 8 tenants: 8 partitions
	for i, e := range entries {
		e.Tenant = []byte(fmt.Sprintf("t%d", i%8))
		spread[i] = e
	}
	for _, c := range []struct {
		name    string
		parquet bool
		entries []record.Entry
	}{{"ndjson", false, entries}, {"ndjson+parquet", true, entries}, {"ndjson+parquet,8_tenants", true, spread}} {
		parquet, entries := c.parquet, c.entries
		b.Run(c.name, func(b *testing.B) {
			store := newStore(b, Config{Bucket: newBucket(b, false)})
			w, err := archive.NewWriter(archive.Config{Parquet: parquet}, store, "bench")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(size))
			n := uint64(0)
			for b.Loop() {
				batch := archive.Batch{First: n + 1, Last: n + uint64(len(entries)), Closed: tm, Entries: entries}
				n += uint64(len(entries))
				if _, err := w.Write(ctx, &batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(entries))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
