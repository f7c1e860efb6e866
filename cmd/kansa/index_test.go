package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kansa-audit/kansa/internal/batch"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
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
// first, paging through all of it.
func indexIDs(t *testing.T, dir string, k index.Key) []string {
	t.Helper()
	x, err := index.Open(dir, index.Options{})
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

// TestReindex: kansa serve keeps the index as a sink; kansa reindex
// rebuilds the same index from the archive alone; serve then continues it
// from the WAL, with nothing missing and nothing twice.
func TestReindex(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	cfg := writeConfig(t, "index:\n  enabled: true\n  max_interval: 100ms\nbatch:\n  max_interval: 200ms\n")
	srv := startServe(t, data, "--config", cfg)
	postEvents(t, srv.url, "a", 400)
	srv.stop(t)

	ix := filepath.Join(data, "index")
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
	if !strings.Contains(string(out), "400 events") {
		t.Fatalf("reindex said: %s", out)
	}
	if got := indexIDs(t, ix, order3); !slices.Equal(got, want) {
		t.Fatalf("index rebuilt by reindex:\n%v\nwant\n%v", got, want)
	}
	a, _ := batch.ReadCheckpoint(filepath.Join(data, "sinks"), "archive")
	i, _ := batch.ReadCheckpoint(filepath.Join(data, "sinks"), "index")
	if a == 0 || i != a {
		t.Fatalf("after reindex the index checkpoint is %d, the archive's %d", i, a)
	}

	// serve continues the rebuilt index from the WAL.
	srv = startServe(t, data, "--config", cfg)
	postEvents(t, srv.url, "b", 100)
	srv.stop(t)
	want = archivedHistory(t, data, "3")
	if got := indexIDs(t, ix, order3); len(got) != 100 || !slices.Equal(got, want) {
		t.Fatalf("after more events, the index has %d events for Order:3:\n%v\nthe archive:\n%v", len(got), got, want)
	}
	if out, err := run(t, nil, "reindex", "--data", data, "--config", cfg, "extra"); err == nil {
		t.Fatalf("reindex with an argument succeeded: %s", out)
	}
}

// archivedHistory is the brute-force answer: the ids of the archive's
// events for Order:id, newest first, ties in archive order (which is the
// order the index adds them in).
func archivedHistory(t *testing.T, data, id string) []string {
	t.Helper()
	evs := archivedEvents(t, filepath.Join(data, "archive"))
	slices.SortStableFunc(evs, func(a, b *event.Event) int { return b.Time.Compare(a.Time) })
	var ids []string
	for _, e := range evs {
		if e.Target != nil && e.Target.Type == "Order" && e.Target.ID == id {
			ids = append(ids, e.ID)
		}
	}
	return ids
}
