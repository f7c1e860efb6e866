//go:build cgo

package sqlq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
)

// testEngine archives n events of tenants acme and beta (every third one
// beta) in two batches, the first with Parquet files, the second without,
// and returns an engine over them with no WAL.
func testEngine(t *testing.T, n int) *Engine {
	t.Helper()
	dir := t.TempDir()
	st, err := objstore.NewDir(filepath.Join(dir, "archive"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []record.Entry
	t0 := time.Date(2024, 8, 6, 9, 0, 0, 0, time.UTC)
	for i := range n {
		tenant := "acme"
		if i%3 == 2 {
			tenant = "beta"
		}
		at := t0.Add(time.Duration(i) * time.Hour)
		body := fmt.Sprintf(`{"schema":"kansa.audit/v1","id":"e-%d","time":"%s","action":"order.update","actor":{"type":"User","id":"%d"},"target":{"type":"Order","id":"%d"},"source":"app","tenant":"%s","outcome":"success","changes":{"n":[%d,%d]}}`,
			i, at.Format(time.RFC3339Nano), i%4, i%5, tenant, i, i+1)
		entries = append(entries, record.Entry{Type: record.TypeEvent, Time: at.UnixMicro(), Tenant: []byte(tenant), Source: []byte("app"), Body: []byte(body)})
	}
	half := n / 2
	for k, part := range [][]record.Entry{entries[:half], entries[half:]} {
		w, err := archive.NewWriter(archive.Config{Parquet: k == 0}, st, "w1")
		if err != nil {
			t.Fatal(err)
		}
		first := uint64(1 + k*half)
		if _, err := w.Write(context.Background(), &archive.Batch{First: first, Last: first + uint64(len(part)) - 1, Closed: time.Now(), Entries: part}); err != nil {
			t.Fatal(err)
		}
	}
	return &Engine{Store: st, Writer: "w1", CacheDir: filepath.Join(dir, "sql-cache"), TempDir: dir,
		Delivered: func() uint64 { return uint64(n) }}
}

func query(t *testing.T, e *Engine, req Request) *Result {
	t.Helper()
	res, err := e.Query(context.Background(), req)
	if err != nil {
		t.Fatalf("%q: %v", req.SQL, err)
	}
	return res
}

func TestQuery(t *testing.T) {
	e := testEngine(t, 60)
	// Twins a crashed process left half made are removed; those a running
	// query may be making (younger than an hour) are not.
	stale, fresh := filepath.Join(e.CacheDir, ".making-1"), filepath.Join(e.CacheDir, ".making-2")
	os.MkdirAll(stale, 0o755)
	os.MkdirAll(fresh, 0o755)
	os.Chtimes(stale, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	res := query(t, e, Request{SQL: "SELECT count(*) AS n, count(DISTINCT id) AS ids, min(year) AS y FROM events;"})
	if _, err := os.Stat(stale); err == nil {
		t.Error("a stale half-made twin directory was kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a twin directory being made was removed")
	}
	os.RemoveAll(fresh)
	if got := fmt.Sprint(res.Rows); got != "[[60 60 2024]]" {
		t.Fatalf("count, distinct ids, year partition = %s", got)
	}
	// The twins made for the second batch are kept.
	if ents, _ := os.ReadDir(e.CacheDir); len(ents) != 1 {
		t.Fatalf("cache holds %d entries, want the second batch's", len(ents))
	}
	res = query(t, e, Request{SQL: "SELECT id, time, json_extract(changes, '$.n[1]')::INT AS n FROM events WHERE actor_id = '1' ORDER BY time DESC LIMIT 2"})
	if got := fmt.Sprint(res.Rows); got != "[[e-57 2024-08-08T18:00:00Z 58] [e-53 2024-08-08T14:00:00Z 54]]" {
		t.Fatalf("actor 1's newest two = %s", got)
	}
	if res.Types[1] != "TIMESTAMPTZ" {
		t.Errorf("time is %s, want TIMESTAMPTZ", res.Types[1])
	}
	res = query(t, e, Request{SQL: "SELECT DISTINCT tenant FROM events ORDER BY 1", Tenants: []string{"beta"}})
	if got := fmt.Sprint(res.Rows); got != "[[beta]]" {
		t.Fatalf("tenant beta sees %s", got)
	}
	res = query(t, e, Request{SQL: "SELECT count(*) FROM events", Tenants: []string{"nobody"}})
	if got := fmt.Sprint(res.Rows); got != "[[0]]" {
		t.Fatalf("a tenant with no events sees %s", got)
	}
	res = query(t, e, Request{SQL: "DESCRIBE events"})
	if len(res.Rows) < 20 {
		t.Fatalf("DESCRIBE: %d columns", len(res.Rows))
	}
}

// TestSandbox: anything but one query is refused before it runs, files
// outside the relation cannot be read, and the limits hold.
func TestSandbox(t *testing.T) {
	e := testEngine(t, 30)
	secret := filepath.Join(t.TempDir(), "secret.csv")
	os.WriteFile(secret, []byte("a\nsecret\n"), 0o644)
	out := filepath.Join(t.TempDir(), "out.csv")
	archiveFile := ""
	filepath.Walk(e.Store.(*objstore.Dir).Root(), func(p string, fi os.FileInfo, err error) error {
		if strings.HasSuffix(p, ".parquet") && strings.Contains(p, "beta") {
			archiveFile = p
		}
		return nil
	})
	for _, c := range []struct {
		sql  string
		want error // nil: any error
	}{
		{"CREATE TABLE t (a INT)", ErrRefused},
		{"INSERT INTO events SELECT * FROM events", ErrRefused},
		{"SELECT 1; SELECT 2", ErrRefused},
		{"SELECT 1; DROP VIEW events", ErrRefused},
		{"COPY (SELECT * FROM events) TO '" + out + "'", ErrRefused},
		{"ATTACH '" + out + "' AS x", ErrRefused},
		{"SET lock_configuration = false", ErrRefused},
		{"PRAGMA enable_profiling", ErrRefused},
		{"INSTALL httpfs", ErrRefused},
		{"LOAD httpfs", ErrRefused},
		{"EXPLAIN SELECT 1", ErrRefused},
		{"SELECT * FROM read_csv('" + secret + "')", nil},
		{"SELECT * FROM read_text('/etc/passwd')", nil},
		{"SELECT * FROM 'https://example.com/x.parquet'", nil},
		{"SELECT count(*) FROM read_parquet('" + archiveFile + "')", nil}, // another tenant's file
		{"", ErrRefused},
		{"SELEC 1", ErrInvalid},
		{"SELECT nope FROM events", ErrInvalid},
	} {
		req := Request{SQL: c.sql}
		if strings.Contains(c.sql, "read_parquet") {
			req.Tenants = []string{"acme"}
		}
		_, err := e.Query(context.Background(), req)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%q: err = %v, want %v", c.sql, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("COPY wrote its file")
	}

	if _, err := e.Query(context.Background(), Request{SQL: "SELECT * FROM events", MaxRows: 29}); !errors.Is(err, ErrTooManyRows) {
		t.Errorf("30 rows with MaxRows 29: %v", err)
	}
	if res, err := e.Query(context.Background(), Request{SQL: "SELECT * FROM events", MaxRows: 30}); err != nil || len(res.Rows) != 30 {
		t.Errorf("30 rows with MaxRows 30: %v", err)
	}
	start := time.Now()
	_, err := e.Query(context.Background(), Request{SQL: "SELECT count(*) FROM range(100000000000) a", Timeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Errorf("a long query: %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("the timeout took %s to stop the query", d)
	}
}

func TestWrite(t *testing.T) {
	res := &Result{Columns: []string{"a", "b"}, Types: []string{"VARCHAR", "BIGINT"},
		Rows: [][]any{{"x,\"y\"", int64(1)}, {nil, []any{int64(2), "z"}}}}
	for format, want := range map[string]string{
		"json":  `{"a":"x,\"y\"","b":1}` + "\n" + `{"a":null,"b":[2,"z"]}` + "\n",
		"csv":   "a,b\n\"x,\"\"y\"\"\",1\n,\"[2,\"\"z\"\"]\"\n",
		"table": "a      b\nx,\"y\"  1\nNULL   [2,\"z\"]\n(2 rows)\n",
	} {
		var b bytes.Buffer
		if err := Write(&b, res, format); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%s:\n%s\nwant\n%s", format, b.String(), want)
		}
	}
	if err := Write(&bytes.Buffer{}, res, "xml"); err == nil {
		t.Error("format xml accepted")
	}
}
