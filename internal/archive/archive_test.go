package archive

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/gunzip"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/rawjson"
	"github.com/kansa-audit/kansa/internal/record"
)

func TestTemplateTokyo(t *testing.T) {
	tm, err := ParseTemplate(DefaultPrefix)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	// 2024-08-06T18:00Z is already the 7th in Tokyo.
	v := Values{Time: time.Date(2024, 8, 6, 18, 0, 0, 0, time.UTC).In(loc), Tenant: "acme"}
	if got := string(tm.Append(nil, &v)); got != "tenant=acme/year=2024/month=08/day=07/" {
		t.Fatalf("got %s", got)
	}
	tm2, err := ParseTemplate("!{source}/!{timestamp:yyyy-MM-dd}/!{timestamp:HH}/")
	if err != nil {
		t.Fatal(err)
	}
	v.Source = "app:kakari"
	if got := string(tm2.Append(nil, &v)); got != "app%3Akakari/2024-08-07/03/" {
		t.Fatalf("got %s", got)
	}
}

func TestEscapeHostile(t *testing.T) {
	for in, want := range map[string]string{
		"../../x": "..%2F..%2Fx",
		"..":      "%2E%2E",
		".":       "%2E",
		"":        "_",
		"a=b:c/d": "a%3Db%3Ac%2Fd",
		"東京":      "%E6%9D%B1%E4%BA%AC",
		"ok.v1-_": "ok.v1-_",
	} {
		got := string(AppendEscaped(nil, in))
		if got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
		if err := objstore.CheckKey("tenant=" + got + "/x"); err != nil {
			t.Errorf("escaped %q gives a bad key: %v", in, err)
		}
	}
}

func TestTemplateErrors(t *testing.T) {
	for _, bad := range []string{"/abs/", "!{tenant", "!{nope}/", "a/../b/", "!{timestamp:yyyy/MM}/", "!{timestamp:YYYY}/", "a//b"} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("ParseTemplate(%q) accepted", bad)
		}
	}
}

func entry(typ record.Type, ts time.Time, tenant, body string) record.Entry {
	e := record.Entry{Type: typ, Time: ts.UnixMicro(), Tenant: []byte(tenant), Source: []byte("stdin"), Body: []byte(body)}
	if v, ok := rawjson.Get(e.Body, "seq"); ok {
		s, _ := rawjson.Get(v, "stream")
		n, _ := rawjson.Get(v, "n")
		e.Stream = s[1 : len(s)-1]
		e.N, _ = strconv.ParseUint(string(n), 10, 64)
	}
	return e
}

func TestWriteIdempotent(t *testing.T) {
	ctx := context.Background()
	store, _ := objstore.NewDir(t.TempDir())
	w, err := NewWriter(Config{TimeZone: "Asia/Tokyo"}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	d1 := time.Date(2024, 8, 6, 1, 0, 0, 0, time.UTC)
	d2 := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC) // a backfill lands in last year's partition
	b := &Batch{First: 10, Last: 14, Closed: d1, Entries: []record.Entry{
		entry(record.TypeEvent, d1, "acme", `{"id":"1","seq":{"stream":"s","n":1}}`),
		entry(record.TypeEvent, d2, "acme", `{"id":"2","seq":{"stream":"s","n":2}}`),
		entry(record.TypeEvent, d1, "../../x", `{"id":"3"}`),
		entry(record.TypeReject, d1, "default", `{"error_type":"decode","error":"bad","line":"{"}`),
		// pretty-printed, as an older kansa could leave it in the WAL
		entry(record.TypeEvent, d1, "acme", "{\"id\":\"4\",\r\n\"seq\":{\"stream\":\"s\",\n\"n\":3}}"),
	}}
	m, err := w.Write(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Events != 4 || m.Rejects != 1 || len(m.Files) != 4 {
		t.Fatalf("manifest %+v", m)
	}
	if len(m.Seq) != 1 || fmt.Sprintf("%+v", m.Seq[0]) != fmt.Sprintf("%+v", SeqSpan{Stream: "s", Source: m.Seq[0].Source, Min: 1, Max: 3, Count: 3}) {
		t.Fatalf("seq %+v", m.Seq)
	}
	wantKeys := []string{
		"errors/decode/year=2024/month=08/day=06/kansa-w1-00000000000000000010-00000000000000000014.ndjson.gz",
		"tenant=..%2F..%2Fx/year=2024/month=08/day=06/kansa-w1-00000000000000000010-00000000000000000014.ndjson.gz",
		"tenant=acme/year=2023/month=01/day=01/kansa-w1-00000000000000000010-00000000000000000014.ndjson.gz",
		"tenant=acme/year=2024/month=08/day=06/kansa-w1-00000000000000000010-00000000000000000014.ndjson.gz",
	}
	for i, f := range m.Files {
		if f.Key != wantKeys[i] {
			t.Errorf("file %d key %s, want %s", i, f.Key, wantKeys[i])
		}
	}
	var lines []string
	if err := ReadLines(ctx, store, wantKeys[3], func(l []byte) error { lines = append(lines, string(l)); return nil }); err != nil {
		t.Fatal(err)
	}
	if strings.Join(lines, "|") != `{"id":"1","seq":{"stream":"s","n":1}}|{"id":"4","seq":{"stream":"s","n":3}}` {
		t.Fatalf("lines %q", lines)
	}
	if root := HexHash(merkle.Root([]merkle.Hash{merkle.LeafHash([]byte(lines[0])), merkle.LeafHash([]byte(lines[1]))})); m.Files[3].Root != root || m.Files[3].Records != 2 {
		t.Fatalf("file root %s over %d records, want %s over 2", m.Files[3].Root, m.Files[3].Records, root)
	}
	before := map[string][]byte{}
	store.List(ctx, "", func(k string, _ int64) error { before[k], _ = store.Get(ctx, k); return nil })
	if _, err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	n := 0
	store.List(ctx, "", func(k string, _ int64) error {
		n++
		got, _ := store.Get(ctx, k)
		if !bytes.Equal(got, before[k]) {
			t.Errorf("rewrite changed %s", k)
		}
		return nil
	})
	if n != len(before) || n != 5 {
		t.Errorf("rewrite made %d objects, want %d", n, len(before))
	}
	var ms []*Manifest
	Manifests(ctx, store, func(m *Manifest) error { ms = append(ms, m); return nil })
	if len(ms) != 1 || ms[0].First != 10 {
		t.Fatalf("manifests %+v", ms)
	}
}

// FuzzTemplate: a template that parses evaluates to a key that stays inside
// the store whatever the tenant and source.
func FuzzTemplate(f *testing.F) {
	f.Add(DefaultPrefix, "acme", "app:kakari")
	f.Add("!{source}/!{timestamp:yyyy-MM-dd}/", "../../x", "..")
	f.Fuzz(func(t *testing.T, tmpl, tenant, source string) {
		tm, err := ParseTemplate(tmpl)
		if err != nil {
			return
		}
		v := Values{Time: time.Date(2024, 8, 6, 1, 2, 3, 0, time.UTC), Tenant: tenant, Source: source, ErrorType: "decode"}
		key := string(tm.Append(nil, &v)) + "kansa-w1-1-2.ndjson.gz"
		if err := objstore.CheckKey(key); err != nil {
			t.Fatalf("template %q with tenant %q source %q gives key %q: %v", tmpl, tenant, source, key, err)
		}
	})
}

// BenchmarkWrite measures the archive stage alone: one 10 MB batch of ~430
// byte events, gzip-compressed into its partition and written to a local
// directory with its manifest.
func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	store, _ := objstore.NewDir(b.TempDir())
	w, err := NewWriter(Config{}, store, "bench")
	if err != nil {
		b.Fatal(err)
	}
	tm := time.Date(2024, 8, 6, 9, 0, 0, 0, time.UTC)
	var batch Batch
	size := 0
	for i := 0; size < 10<<20; i++ {
		body := fmt.Sprintf(`{"schema":"kansa.audit/v1","id":"hl-%012d","time":"2024-08-06T09:00:%02d.%06dZ","action":"update","actor":{"type":"User","id":"%d"},"target":{"type":"Order","id":"%d"},"changes":{"status":["paid","shipped"]},"context":{"ip":"203.0.113.7","request_id":"0d3c6a7e-6b1f-4c2a-9a55-%012d","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","endpoint":"PATCH /orders/:id"},"source":"app:bench","tenant":"default","outcome":"success","received_at":"2024-08-06T09:00:00.000000Z"}`, i, i%60, i%1000000, i%977, i, i)
		batch.Entries = append(batch.Entries, record.Entry{Type: record.TypeEvent, Time: tm.UnixMicro(), Tenant: []byte("default"), Source: []byte("app:bench"), Body: []byte(body)})
		size += len(body)
	}
	batch.First, batch.Last = 1, uint64(len(batch.Entries))
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := w.Write(ctx, &batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(batch.Entries))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// TestLargeFileIsOneGzipStream: a batch bigger than one segment becomes a
// file of several gzip members that the standard library, kansa's reader and
// gzip(1) all read as one stream of every line, in order.
// writeOneFile writes a batch of one tenant's events, {"id":i,"pad":pad(i)},
// until their lines reach size bytes, and returns the lines, the manifest
// and the one file's bytes.
func writeOneFile(t *testing.T, w *Writer, size int, pad func(i int) string) (*bytes.Buffer, *Manifest, []byte) {
	t.Helper()
	ctx := context.Background()
	tm := time.Date(2024, 8, 6, 0, 0, 0, 0, time.UTC)
	var want bytes.Buffer
	b := &Batch{First: 1, Closed: tm}
	for i := 0; want.Len() < size; i++ {
		body := fmt.Sprintf(`{"id":"%d","pad":"%s"}`, i, pad(i))
		want.WriteString(body + "\n")
		b.Entries = append(b.Entries, entry(record.TypeEvent, tm, "acme", body))
	}
	b.Last = uint64(len(b.Entries))
	m, err := w.Write(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	data, err := w.Store().Get(ctx, m.Files[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	return &want, m, data
}

func TestLargeFileIsOneGzipStream(t *testing.T) {
	ctx := context.Background()
	store, _ := objstore.NewDir(t.TempDir())
	w, _ := NewWriter(Config{}, store, "w1")
	want, m, data := writeOneFile(t, w, 3*MaxMemberBytes+1234, func(i int) string { return strings.Repeat("x", i%500) })
	zr, err := stdgzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("compress/gzip reads %d bytes (%v), want %d", len(got), err, want.Len())
	}
	if members := bytes.Count(data, []byte{0x1f, 0x8b, 8}); members < 4 {
		t.Errorf("expected several members, found about %d", members)
	}
	var lines bytes.Buffer
	ReadLines(ctx, store, m.Files[0].Key, func(l []byte) error { lines.Write(l); lines.WriteByte('\n'); return nil })
	if !bytes.Equal(lines.Bytes(), want.Bytes()) {
		t.Fatal("ReadLines differs")
	}
	if path, err := exec.LookPath("gzip"); err == nil {
		out, err := exec.Command(path, "-dc", filepath.Join(store.Root(), filepath.FromSlash(m.Files[0].Key))).Output()
		if err != nil || !bytes.Equal(out, want.Bytes()) {
			t.Fatalf("gzip -dc: %v, %d bytes", err, len(out))
		}
	}
}

// TestMemberBytes: with Config.MemberBytes, each member holds whole lines
// and at most that many bytes of them (a line longer than that alone).
func TestMemberBytes(t *testing.T) {
	store, _ := objstore.NewDir(t.TempDir())
	if _, err := NewWriter(Config{MemberBytes: 1000}, store, "w1"); err == nil || !strings.Contains(err.Error(), "archive.member_bytes") {
		t.Fatalf("MemberBytes 1000: %v", err)
	}
	const member = MinMemberBytes
	w, err := NewWriter(Config{MemberBytes: member}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	want, _, data := writeOneFile(t, w, 300<<10, func(i int) string {
		if i == 100 {
			return strings.Repeat("y", member+10) // longer than a member
		}
		return strings.Repeat("x", i%900)
	})
	var got bytes.Buffer
	members, long := 0, 0
	if _, err := gunzip.NewDecoder().Members(data, nil, func(off, n int, plain []byte) error {
		members++
		if len(plain) == 0 || plain[len(plain)-1] != '\n' {
			t.Fatalf("member %d does not end a line", members)
		}
		if len(plain) > member {
			if bytes.Count(plain, []byte{'\n'}) != 1 {
				t.Fatalf("member %d: %d bytes in %d lines, more than MemberBytes", members, len(plain), bytes.Count(plain, []byte{'\n'}))
			}
			long++
		}
		got.Write(plain)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want.Bytes()) || long != 1 || members < 300<<10/member {
		t.Fatalf("%d members (%d over MemberBytes) hold %d bytes; want %d bytes, one long line alone", members, long, got.Len(), want.Len())
	}
}

func TestWriteParquet(t *testing.T) {
	ctx := context.Background()
	store, _ := objstore.NewDir(t.TempDir())
	w, err := NewWriter(Config{TimeZone: "Asia/Tokyo", Parquet: true}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	d1 := time.Date(2024, 8, 6, 1, 0, 0, 0, time.UTC)
	ev := func(id string) string {
		return `{"schema":"kansa.audit/v1","id":"` + id + `","time":"2024-08-06T01:00:00.000000Z","action":"update","target":{"type":"Order","id":"17"},"source":"stdin","tenant":"acme","outcome":"success"}`
	}
	b := &Batch{First: 1, Last: 3, Closed: d1, Entries: []record.Entry{
		entry(record.TypeEvent, d1, "acme", ev("a")),
		entry(record.TypeReject, d1, "default", `{"error_type":"decode","error":"bad","line":"{"}`),
		entry(record.TypeEvent, d1, "acme", ev("b")),
	}}
	m, err := w.Write(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	var pq []File
	for _, f := range m.Files {
		if f.Format == FormatParquet {
			pq = append(pq, f)
		}
	}
	want := "parquet/tenant=acme/year=2024/month=08/day=06/kansa-w1-00000000000000000001-00000000000000000003.parquet"
	if len(pq) != 1 || pq[0].Key != want || pq[0].Records != 2 || pq[0].Tenant != "acme" {
		t.Fatalf("parquet files %+v", pq)
	}
	first, _ := store.Get(ctx, want)
	if string(first[:4]) != "PAR1" {
		t.Fatalf("%s is not Parquet", want)
	}
	if _, err := w.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	again, _ := store.Get(ctx, want)
	if !bytes.Equal(first, again) {
		t.Fatal("rewriting the batch changed its Parquet file")
	}
	if _, err := NewWriter(Config{Parquet: true, ParquetPrefix: DefaultPrefix}, store, "w1"); err == nil {
		t.Fatal("a Parquet prefix equal to the NDJSON prefix was accepted")
	}
}

// TestParquetConversionFailure: an event Parquet cannot hold (seq.n beyond
// int64) goes to the error output under error type parquet; the Parquet
// file holds the others and the NDJSON file all of them.
func TestParquetConversionFailure(t *testing.T) {
	ctx := context.Background()
	store, _ := objstore.NewDir(t.TempDir())
	w, err := NewWriter(Config{Parquet: true}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	d1 := time.Date(2024, 8, 6, 1, 0, 0, 0, time.UTC)
	ev := func(id, seq string) string {
		return `{"schema":"kansa.audit/v1","id":"` + id + `","time":"2024-08-06T01:00:00.000000Z","action":"update","source":"stdin","tenant":"acme","outcome":"success"` + seq + `}`
	}
	b := &Batch{First: 1, Last: 3, Closed: d1, Entries: []record.Entry{
		entry(record.TypeEvent, d1, "acme", ev("a", "")),
		entry(record.TypeEvent, d1, "acme", ev("huge", `,"seq":{"stream":"s","n":18446744073709551615}`)),
		entry(record.TypeEvent, d1, "acme", ev("b", "")),
	}}
	m, err := w.Write(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, f := range m.Files {
		got[f.Kind+"/"+f.Format] += f.Records
		if f.Kind == "rejects" && !strings.HasPrefix(f.Key, "errors/parquet/") {
			t.Errorf("reject file %s not under errors/parquet/", f.Key)
		}
	}
	if got["events/ndjson.gz"] != 3 || got["events/parquet"] != 2 || got["rejects/ndjson.gz"] != 1 {
		t.Fatalf("files %v", got)
	}
	for _, f := range m.Files {
		if f.Kind != "rejects" {
			continue
		}
		var lines []string
		ReadLines(ctx, store, f.Key, func(l []byte) error { lines = append(lines, string(l)); return nil })
		if len(lines) != 1 || !strings.Contains(lines[0], `"error_type":"parquet"`) || !strings.Contains(lines[0], "seq.n") || !strings.Contains(lines[0], `huge`) {
			t.Fatalf("reject %q: want the event and why", lines)
		}
	}
}

// failingStore fails every Put of a key containing bad.
type failingStore struct {
	objstore.Store
	bad  string
	mu   sync.Mutex
	puts []string
}

var errInjected = errors.New("injected put failure")

func (s *failingStore) Put(ctx context.Context, key string, data []byte) error {
	s.mu.Lock()
	s.puts = append(s.puts, key)
	s.mu.Unlock()
	if strings.Contains(key, s.bad) {
		return errInjected
	}
	return s.Store.Put(ctx, key, data)
}

// TestWriteFailedPut: when one object of a batch cannot be put (NDJSON or
// Parquet), Write returns that error, not a cancellation of the other
// puts, and writes no manifest, so the batch is written again.
func TestWriteFailedPut(t *testing.T) {
	d1 := time.Date(2024, 8, 6, 1, 0, 0, 0, time.UTC)
	var entries []record.Entry
	for i, tenant := range []string{"a", "b", "c", "d", "e", "f"} {
		entries = append(entries, entry(record.TypeEvent, d1, tenant,
			`{"schema":"kansa.audit/v1","id":"`+strconv.Itoa(i)+`","time":"2024-08-06T01:00:00.000000Z","action":"update","source":"stdin","tenant":"`+tenant+`","outcome":"success"}`))
	}
	b := &Batch{First: 1, Last: uint64(len(entries)), Closed: d1, Entries: entries}
	for _, bad := range []string{"tenant=c/year=2024/month=08/day=06/kansa-w1-00000000000000000001-00000000000000000006.ndjson.gz", ".parquet"} {
		dir, _ := objstore.NewDir(t.TempDir())
		store := &failingStore{Store: dir, bad: bad}
		w, err := NewWriter(Config{Parquet: true}, store, "w1")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(context.Background(), b); !errors.Is(err, errInjected) {
			t.Fatalf("put of %s failing: Write returned %v", bad, err)
		}
		tried := false
		for _, k := range store.puts {
			tried = tried || strings.Contains(k, bad)
			if strings.HasPrefix(k, ManifestPrefix) {
				t.Fatalf("put of %s failing: manifest %s written", bad, k)
			}
		}
		if !tried {
			t.Fatalf("no put of %s among %q", bad, store.puts)
		}
	}
}

// TestAccounts: a manifest counts records per source and day, dropped
// records by what the "dropped" record says, and each stream's numbers as
// runs when they have gaps, with its newest heartbeat apart.
func TestAccounts(t *testing.T) {
	d := time.Date(2024, 8, 6, 23, 0, 0, 0, time.UTC)
	ev := func(src string, at time.Time, n uint64, action string) record.Entry {
		return record.Entry{Type: record.TypeEvent, Time: at.UnixMicro(), Tenant: []byte("t"), Source: []byte(src), Stream: []byte("st"), N: n,
			Body: fmt.Appendf(nil, `{"action":%q,"seq":{"stream":"st","n":%d}}`, action, n)}
	}
	var a Accounts
	for _, n := range []uint64{1, 2, 3, 5, 5, 9} {
		e := ev("app", d, n, "update")
		a.Add(&e)
	}
	hb := ev("app", d.Add(2*time.Hour), 11, HeartbeatAction)
	a.Add(&hb)
	rej := record.Entry{Type: record.TypeReject, Time: d.UnixMicro(), Source: []byte("app"), Body: []byte(`{"error_type":"decode"}`)}
	a.Add(&rej)
	drop := record.Entry{Type: record.TypeReject, Time: d.UnixMicro(), Source: []byte("app"), Body: []byte(`{"error_type":"dropped","count":40}`)}
	a.Add(&drop)
	days, seqs := a.Result()
	if got := fmt.Sprintf("%+v", days); got != "[{Source:app Day:2024-08-06 Events:6 Rejects:1 Dropped:40} {Source:app Day:2024-08-07 Events:1 Rejects:0 Dropped:0}]" {
		t.Fatalf("days %s", got)
	}
	if got := fmt.Sprintf("%+v", seqs); got != "[{Stream:st Source:app Min:1 Max:9 Count:5 Runs:[[1 3] [5 5] [9 9]] Heartbeat:11}]" {
		t.Fatalf("seqs %s", got)
	}
}
