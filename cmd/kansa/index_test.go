package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/batch"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// postEvents sends n events for records Order:0..Order:4 with ids
// prefix-0..prefix-(n-1).
func postEvents(t *testing.T, url, prefix string, n int) {
	t.Helper()
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, `{"schema":"kansa.audit/v1","id":"%s-%d","time":"2024-08-06T09:%02d:%02d+09:00","action":"update","actor":{"type":"User","id":"%d"},"target":{"type":"Order","id":"%d"},"context":{"request_id":"req-%s-%d"}}`+"\n",
			prefix, i, i/60%60, i%60, i%7, i%5, prefix, i/3)
	}
	resp, err := http.Post(url+"/v1/events", "application/x-ndjson", strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST: %s", resp.Status)
	}
}

// indexIDs returns the ids in the index's history of one record, newest
// first, paging through all of it. The archive is beside the index, where
// the default configuration puts it.
func indexIDs(t *testing.T, dir string, k index.Key) []string {
	t.Helper()
	store, err := objstore.NewDir(filepath.Join(filepath.Dir(dir), "archive"))
	if err != nil {
		t.Fatal(err)
	}
	x, err := index.Open(dir, index.Options{Archive: store})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	var ids []string
	req := index.Request{Keys: []index.Key{k}, Limit: 7}
	for {
		res, err := x.Search(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range res.Events {
			e, err := event.Decode(l)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
		if res.Next == "" {
			return ids
		}
		req.After = res.Next
	}
}

// stored counts the index's events kept by reference and as copies.
func stored(t *testing.T, dir string) (byRef, copies uint64) {
	t.Helper()
	x, err := index.Open(dir, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	byRef, copies, err = x.Stored()
	if err != nil {
		t.Fatal(err)
	}
	return byRef, copies
}

// TestReindex: kansa serve keeps the index as a sink; kansa reindex
// rebuilds the same index from the archive alone; serve then continues it
// from the WAL, with nothing missing and nothing twice. The rebuilt index
// keeps references into the archive's small gzip members, not copies.
func TestReindex(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	cfg := writeConfig(t, "index:\n  enabled: true\n  max_interval: 100ms\nbatch:\n  max_interval: 200ms\narchive:\n  member_bytes: 16KiB\n")
	srv := startServe(t, data, "--config", cfg)
	postEvents(t, srv.url, "a", 400)
	srv.stop(t)

	ix := filepath.Join(data, "index")
	// Archived batches' events became references (an event archived
	// before the index had it, at shutdown, may keep its copy).
	if byRef, copies := stored(t, ix); byRef == 0 || byRef+copies != 400 {
		t.Fatalf("the index serve kept holds %d events by reference and %d copies, want most of 400 by reference", byRef, copies)
	}
	order3 := index.Key{Kind: index.Target, Type: "Order", ID: "3"}
	byServe := indexIDs(t, ix, order3)
	if len(byServe) != 80 {
		t.Fatalf("Order:3 has %d events in the index serve kept, want 80", len(byServe))
	}
	want := archivedHistory(t, data, "3")
	if !slices.Equal(byServe, want) {
		t.Fatalf("index kept by serve:\n%v\narchive:\n%v", byServe, want)
	}

	if err := os.RemoveAll(ix); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(data, "sinks", "index.checkpoint"))
	out, err := run(t, nil, "reindex", "--data", data, "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "400 events") || !strings.Contains(string(out), "400 kept by reference") {
		t.Fatalf("reindex said: %s", out)
	}
	for id := range 5 {
		k := index.Key{Kind: index.Target, Type: "Order", ID: fmt.Sprint(id)}
		if got, want := indexIDs(t, ix, k), archivedHistory(t, data, fmt.Sprint(id)); !slices.Equal(got, want) {
			t.Fatalf("Order:%d in the index rebuilt by reindex:\n%v\nthe archive:\n%v", id, got, want)
		}
	}
	a, _ := batch.ReadCheckpoint(filepath.Join(data, "sinks"), "archive")
	i, _ := batch.ReadCheckpoint(filepath.Join(data, "sinks"), "index")
	if a == 0 || i != a {
		t.Fatalf("after reindex the index checkpoint is %d, the archive's %d", i, a)
	}

	out, err = run(t, nil, "counts", "--data", data, "--config", cfg, "--by", "action", "--format", "json")
	if err != nil || strings.TrimSpace(string(out)) != `{"day":"2024-08-06","value":"update","count":400}` {
		t.Fatalf("counts after reindex: %s %v", out, err)
	}

	// serve continues the rebuilt index from the WAL.
	srv = startServe(t, data, "--config", cfg)
	postEvents(t, srv.url, "b", 100)
	waitIndexed(t, srv, 500)
	out, err = run(t, nil, "counts", "--data", data, "--config", cfg, "--by", "actor", "--since", "2024-08-06", "--until", "2024-08-06")
	if err != nil || !strings.Contains(strings.Join(strings.Fields(string(out)), " "), "2024-08-06 User:0 73 2024-08-06 User:1 72") {
		t.Fatalf("counts by actor through the server: %s %v", out, err)
	}
	// SQL through the server sees the same: all 500 events, archived or
	// still in the WAL, and Order:3's in the same order.
	out, err = run(t, nil, "sql", "--data", data, "--config", cfg, "--format", "csv",
		"SELECT count(*) AS n, count(DISTINCT id) AS ids FROM events")
	if err != nil || string(out) != "n,ids\n500,500\n" {
		t.Fatalf("kansa sql count: %q %v", out, err)
	}
	out, err = run(t, nil, "sql", "--data", data, "--config", cfg, "--format", "csv",
		"SELECT id FROM events WHERE target_type = 'Order' AND target_id = '3' ORDER BY time DESC, id DESC")
	if err != nil {
		t.Fatal(err)
	}
	bySQL := strings.Fields(string(out))[1:]
	srv.stop(t)
	want = archivedHistory(t, data, "3")
	if !slices.Equal(bySQL, want) {
		t.Fatalf("Order:3 by kansa sql:\n%v\nthe archive:\n%v", bySQL, want)
	}
	if got := indexIDs(t, ix, order3); len(got) != 100 || !slices.Equal(got, want) {
		t.Fatalf("after more events, the index has %d events for Order:3:\n%v\nthe archive:\n%v", len(got), got, want)
	}
	if out, err := run(t, nil, "reindex", "--data", data, "--config", cfg, "extra"); err == nil {
		t.Fatalf("reindex with an argument succeeded: %s", out)
	}
}

// archivedHistory is the brute-force answer: the ids of the archive's
// events for Order:id, newest first, ties by id (greatest first).
func archivedHistory(t *testing.T, data, id string) []string {
	t.Helper()
	evs := archivedEvents(t, filepath.Join(data, "archive"))
	slices.SortStableFunc(evs, func(a, b *event.Event) int {
		if c := b.Time.Compare(a.Time); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	var ids []string
	for _, e := range evs {
		if e.Target != nil && e.Target.Type == "Order" && e.Target.ID == id {
			ids = append(ids, e.ID)
		}
	}
	return ids
}

// runStderr runs a kansa command and returns its stdout and stderr.
func runStderr(t *testing.T, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(kansaBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kansa %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// TestHistory: kansa history pages through a record's timeline with the
// diff of each change, the same from the data directory and through a
// running server; an actor's history lists what they did to which record.
func TestHistory(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	cfg := writeConfig(t, "index:\n  enabled: true\n  max_interval: 100ms\n")
	srv := startServe(t, data, "--config", cfg)
	var b strings.Builder
	for i := range 25 {
		fmt.Fprintf(&b, `{"schema":"kansa.audit/v1","id":"h-%d","time":"2024-08-06T09:00:%02d+09:00","action":"update","actor":{"type":"User","id":"%d","name":"Ayu"},"target":{"type":"Order","id":"17"},"changes":{"status":["s%d","s%d"],"note":"a b"},"context":{"ip":"203.0.113.7","endpoint":"PATCH /orders/{id}","request_id":"r-%d"}}`+"\n", i, i, i%2, i, i+1, i)
	}
	resp, err := http.Post(srv.url+"/v1/events", "application/x-ndjson", strings.NewReader(b.String()))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("POST: %v %v", err, resp)
	}
	resp.Body.Close()

	// Through the running server (the index is its, behind its socket),
	// once the index has the events.
	waitIndexed(t, srv, 25)
	viaServer, _ := runStderr(t, "history", "--data", data, "--config", cfg, "--limit", "10", "Order:17")
	srv.stop(t)

	// Without the index (no config), the first page says more may follow.
	if _, more := runStderr(t, "history", "--data", data, "--limit", "10", "Order:17"); !strings.Contains(more, "more may follow: paging needs the search index") {
		t.Fatalf("history without the index, a full page: stderr %q", more)
	}
	page1, more := runStderr(t, "history", "--data", data, "--config", cfg, "--limit", "10", "Order:17")
	if page1 != viaServer {
		t.Fatalf("history through the server:\n%s\nfrom the directory:\n%s", viaServer, page1)
	}
	lines := strings.Split(strings.TrimSpace(page1), "\n")
	if len(lines) != 30 || !strings.HasPrefix(lines[0], "2024-08-06 09:00:24.000 +09:00  update  by User:0 (Ayu)  from 203.0.113.7  via PATCH /orders/{id}  request r-24") ||
		strings.TrimSpace(lines[1]) != "status: s24 → s25" || strings.TrimSpace(lines[2]) != `note: "a b"` {
		t.Fatalf("first page:\n%s", page1)
	}
	cursor := strings.TrimSpace(strings.TrimPrefix(more, "more: add --cursor "))
	if cursor == "" || cursor == strings.TrimSpace(more) {
		t.Fatalf("no cursor for the next page: %q", more)
	}
	var all []string
	for cursor != "" {
		out, more := runStderr(t, "history", "--data", data, "--config", cfg, "--limit", "10", "--format", "json", "--cursor", cursor, "Order:17")
		all = append(all, strings.Split(strings.TrimSpace(out), "\n")...)
		cursor = strings.TrimSpace(strings.TrimPrefix(more, "more: add --cursor "))
	}
	if len(all) != 15 || !strings.Contains(all[0], `"id":"h-14"`) || !strings.Contains(all[14], `"id":"h-0"`) {
		t.Fatalf("pages after the first: %d events, first %s", len(all), all[0])
	}
	out, _ := runStderr(t, "history", "--data", data, "--config", cfg, "actor:User:1")
	if n := strings.Count(out, "Order:17"); n != 12 || strings.Contains(out, " by ") {
		t.Fatalf("actor history (12 events, each naming its record, none its actor):\n%s", out)
	}
	if _, err := run(t, nil, "history", "--data", data, "--config", cfg, "--cursor", "nonsense", "Order:17"); err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Fatalf("a malformed cursor: %v", err)
	}
}

// waitIndexed waits until the server's index has counted n events
// (history and search also read the WAL; counts come from the index only).
func waitIndexed(t *testing.T, srv *server, n uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(srv.url + "/v1/counts?by=action")
		if err != nil {
			t.Fatal(err)
		}
		var got uint64
		dec := json.NewDecoder(resp.Body)
		for dec.More() {
			var c struct{ Count uint64 }
			if err := dec.Decode(&c); err != nil {
				t.Fatal(err)
			}
			got += c.Count
		}
		resp.Body.Close()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			srv.kill()
			t.Fatalf("the index counts %d of %d events; the server said:\n%s", got, n, srv.stderr)
		}
		time.Sleep(20 * time.Millisecond) // polling the condition, not waiting it out
	}
}
