package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/mixstream"
)

// TestRouteMixedStream feeds `kansa route` a realistic mixed stream —
// lograge lines (with their own "action" key), ActiveRecord SQL as JSON,
// analytics lines, plain text, malformed JSON, JSON whose record is not an
// object, audit lines with a null user, Japanese text, 100 KB changes, SDK
// events — and checks that the application output is byte-identical and in
// order, and that every audit line is archived exactly once.
func TestRouteMixedStream(t *testing.T) {
	needBinary(t)
	gen := mixstream.New(mixstream.Config{Seed: 7, Huge: true})
	var input, wantApp bytes.Buffer
	wantKeys := map[string]bool{}
	kinds := map[mixstream.Kind]int{}
	for i := 0; i < 60000 || len(kinds) < int(mixstream.AuditHugeChanges)+1 || kinds[mixstream.AuditHugeChanges] < 2; i++ {
		l := gen.Next()
		kinds[l.Kind]++
		input.Write(l.Text)
		input.WriteByte('\n')
		if l.Kind.Audit() {
			wantKeys[l.Key] = true
		} else {
			wantApp.Write(l.Text)
			wantApp.WriteByte('\n')
		}
	}
	t.Logf("%d lines, %d audit, kinds %v", bytes.Count(input.Bytes(), []byte("\n")), len(wantKeys), kinds)

	data := t.TempDir()
	cfg := writeConfig(t, "batch:\n  max_bytes: 1MiB\n")
	out, err := run(t, bytes.NewReader(input.Bytes()), "route", "--data", data, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, wantApp.Bytes()) {
		t.Fatalf("application output differs: got %d bytes, want %d (first difference at byte %d)", len(out), wantApp.Len(), firstDiff(out, wantApp.Bytes()))
	}
	got := map[string]int{}
	for _, e := range archivedEvents(t, filepath.Join(data, "archive")) {
		key := e.ID
		if e.Original != nil { // AuditLoggable: its request_uuid is the key
			key = e.Context.RequestID
		}
		got[key]++
	}
	for k := range wantKeys {
		if got[k] != 1 {
			t.Fatalf("audit key %s archived %d times", k, got[k])
		}
	}
	if len(got) != len(wantKeys) {
		t.Fatalf("archived %d distinct events, want %d", len(got), len(wantKeys))
	}
	if entries, _ := os.ReadDir(filepath.Join(data, "archive", "errors")); len(entries) != 0 {
		t.Fatalf("generated audit lines were rejected: %v", entries)
	}

	// Reading the same input again derives the same ids: search still finds
	// each event once.
	if _, err := run(t, bytes.NewReader(input.Bytes()), "route", "--data", data, "--config", cfg); err != nil {
		t.Fatal(err)
	}
	res, err := run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(res, []byte("\n")); n != len(wantKeys) {
		t.Fatalf("after reading the input twice, search finds %d events, want %d", n, len(wantKeys))
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestRouteWhenFullDrop: with the archive down and a tiny WAL, when_full:
// drop lets application lines flow, counts the dropped audit lines, and exits
// non-zero because not every audit line reached the archive.
func TestRouteWhenFullDrop(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	blocker := filepath.Join(data, "archive", "tenant=default")
	os.MkdirAll(filepath.Dir(blocker), 0o755)
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "wal:\n  segment_bytes: 64KiB\n  max_bytes: 128KiB\n  when_full: drop\nbatch:\n  max_interval: 10ms\nserver:\n  shutdown_grace: 1s\n")
	gen := mixstream.New(mixstream.Config{Seed: 3})
	var input, wantApp bytes.Buffer
	audit := 0
	for range 20000 {
		l := gen.Next()
		input.Write(l.Text)
		input.WriteByte('\n')
		if !l.Kind.Audit() {
			wantApp.Write(l.Text)
			wantApp.WriteByte('\n')
		} else {
			audit++
		}
	}
	cmd := exec.Command(kansaBin, "route", "--data", data, "--config", cfg)
	cmd.Stdin = &input
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	err := cmd.Run()
	if exitCode(err) != 1 {
		t.Fatalf("exit %v, want 1 (audit events not archived)\n%s", err, stderr.String())
	}
	if !bytes.Equal(out.Bytes(), wantApp.Bytes()) {
		t.Fatalf("application output differs under drop (%d vs %d bytes)", out.Len(), wantApp.Len())
	}
	if !strings.Contains(stderr.String(), "dropped=") || strings.Contains(stderr.String(), "dropped=0 ") {
		t.Fatalf("no drops reported:\n%s", stderr.String())
	}

	// The archive comes back: a run with no input delivers what the WAL
	// held and records the drops in the error output. kansa reconcile then
	// accounts for every audit line of the input: archived, error output
	// or dropped (on the dropped records' own days).
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	if _, err := run(t, strings.NewReader(""), "route", "--data", data, "--config", cfg); err != nil {
		t.Fatal(err)
	}
	out2, err := run(t, nil, "reconcile", "--data", data, "--format", "json")
	if exitCode(err) != 1 {
		t.Fatalf("reconcile after drops: exit %d, want 1\n%s", exitCode(err), out2)
	}
	var rep struct {
		Rows []struct {
			Day     string
			Dropped int
		}
		Total struct{ Received, Archived, Errors, Dropped, Pending int }
	}
	if err := json.Unmarshal(out2, &rep); err != nil {
		t.Fatalf("%v\n%s", err, out2)
	}
	m := regexp.MustCompile(`dropped=(\d+)`).FindStringSubmatch(stderr.String())
	dropped, _ := strconv.Atoi(m[1])
	if rep.Total.Received != audit || rep.Total.Dropped != dropped || rep.Total.Pending != 0 || rep.Total.Archived == 0 {
		t.Fatalf("reconcile: %+v; the input had %d audit lines and route dropped %d", rep.Total, audit, dropped)
	}
	for _, r := range rep.Rows {
		if r.Dropped > 0 && r.Day != "2024-08-06" {
			t.Fatalf("drops counted on %s, not on the dropped records' day", r.Day)
		}
	}
	table, _ := run(t, nil, "reconcile", "--data", data)
	if !strings.Contains(string(table), "NOT OK") || !strings.Contains(string(table), "total") {
		t.Fatalf("table:\n%s", table)
	}
}

func TestConfigErrorsNameTheKey(t *testing.T) {
	needBinary(t)
	cfg := writeConfig(t, "server:\n  listn: 127.0.0.1:1\n")
	_, err := run(t, nil, "serve", "--config", cfg, "--data", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), `line 2: unknown key "listn"`) {
		t.Fatalf("got %v", err)
	}
}

// TestSearchWhileRouteRuns asks a running sidecar over its data directory's
// socket: kansa search works whether or not route owns the directory.
func TestSearchWhileRouteRuns(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	cmd := exec.Command(kansaBin, "route", "--data", data)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("route: %v\n%s", err, stderr.String())
		}
	}()
	fmt.Fprintln(stdin, `{"schema":"kansa.audit/v1","id":"s-1","time":"2024-08-06T18:00:59+09:00","action":"update","actor":{"type":"User","id":"7"},"source":"app:x"}`)
	fmt.Fprintln(stdin, `plain application line`)
	deadline := time.Now().Add(20 * time.Second)
	// Until route owns the directory (its socket is there), a search would
	// take the directory itself and route could not start.
	for {
		if _, err := os.Stat(filepath.Join(data, "kansa.sock")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("route made no socket\n%s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		out, err := run(t, nil, "search", "--data", data, "--format", "json", "actor:User:7")
		if err == nil && strings.Contains(string(out), `"id":"s-1"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("search while route runs: %v\n%s", err, out)
		}
		time.Sleep(20 * time.Millisecond) // polling until the line is read and in the WAL
	}
}
