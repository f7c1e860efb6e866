//go:build cgo

package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// TestParquetArchiveThroughDDL runs kansa serve writing Parquet, then
// queries the archive in DuckDB through the view `kansa ddl --engine
// duckdb` prints — as a user would, with nothing but the two commands.
func TestParquetArchiveThroughDDL(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	cfg := writeConfig(t, "archive:\n  formats: [ndjson, parquet]\n  time_zone: Asia/Tokyo\n")
	srv := startServe(t, data, "--config", cfg)
	var body strings.Builder
	for i := 0; i < 300; i++ {
		day := 5 + i%3 // three days of partitions
		fmt.Fprintf(&body, `{"schema":"kansa.audit/v1","id":"e%d","time":"2024-08-%02dT18:00:00+09:00","action":"update","actor":{"type":"User","id":"%d"},"target":{"type":"Order","id":"%d"},"tenant":"t%d","changes":{"total":[9007199254740993,%d]}}`+"\n",
			i, day, i%7, i%50, i%2, i)
	}
	if code, out, _ := post(t, srv.url, body.String()); code != 200 || !strings.Contains(out, `"accepted":300`) {
		t.Fatalf("ingest: %d %s", code, out)
	}
	srv.stop(t) // delivers the open batch
	ddlSQL, err := run(t, nil, "ddl", "--engine", "duckdb", "--data", data, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(string(ddlSQL)); err != nil {
		t.Fatalf("the DDL kansa printed does not run in DuckDB: %v\n%s", err, ddlSQL)
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM kansa_events`).Scan(&n); err != nil || n != 300 {
		t.Fatalf("count %d, %v", n, err)
	}
	// Partition columns come from the path, in the archive's zone (Tokyo).
	if err := db.QueryRow(`SELECT count(*) FROM kansa_events WHERE tenant = 't1' AND year = 2024 AND month = 8 AND day = 6`).Scan(&n); err != nil || n != 50 {
		t.Fatalf("one tenant's day: %d, %v", n, err)
	}
	var changes, target string
	if err := db.QueryRow(`SELECT changes, target_id FROM kansa_events WHERE id = 'e7'`).Scan(&changes, &target); err != nil {
		t.Fatal(err)
	}
	if changes != `{"total":[9007199254740993,7]}` || target != "7" {
		t.Fatalf("e7: changes %s target %s", changes, target)
	}
	// Pruning: break every file of tenant t1; a query of tenant t0 does not
	// read them, so it still answers, while a query of everything fails.
	broken, _ := filepath.Glob(filepath.Join(data, "archive", "parquet", "tenant=t1", "*", "*", "*", "*.parquet"))
	if len(broken) != 3 {
		t.Fatalf("tenant t1's Parquet files: %v", broken)
	}
	for _, f := range broken {
		if err := os.WriteFile(f, []byte("not parquet"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.QueryRow(`SELECT count(*) FROM kansa_events WHERE tenant = 't0' AND day = 5`).Scan(&n); err != nil || n != 50 {
		t.Fatalf("pruned query: %d, %v", n, err)
	}
	if err := db.QueryRow(`SELECT count(*) FROM kansa_events`).Scan(&n); err == nil {
		t.Fatal("a query over the broken files succeeded: were they read at all?")
	}
}
