package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kansa-audit/kansa/internal/event"
)

// TestCrashNoAcknowledgedEventLost SIGKILLs kansa serve many times while
// several clients ingest concurrently, then proves that every event that was
// acknowledged is found exactly once, in search and in the archive.
func TestCrashNoAcknowledgedEventLost(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	// Small, frequent batches so kills also land between a batch's boundary
	// and its delivery.
	cfg := writeConfig(t, "batch:\n  max_bytes: 64KiB\n  max_interval: 20ms\nwal:\n  segment_bytes: 256KiB\n  max_bytes: 64MiB\n")
	var (
		mu    sync.Mutex
		acked = map[string]bool{}
		next  atomic.Int64
	)
	const rounds, clients, batchSize = 12, 4, 40
	for round := range rounds {
		s := startServe(t, data, "--config", cfg)
		killAt := int64(20 + rand.IntN(60)) // acknowledged requests before the kill
		var done atomic.Int64
		var wg sync.WaitGroup
		stop := make(chan struct{})
		var once sync.Once
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{}
				for {
					select {
					case <-stop:
						return
					default:
					}
					var body bytes.Buffer
					ids := make([]string, batchSize)
					for i := range ids {
						n := next.Add(1)
						ids[i] = fmt.Sprintf("crash-%d", n)
						fmt.Fprintf(&body, `{"schema":"kansa.audit/v1","id":%q,"time":"2024-08-06T18:00:59.981+09:00","action":"update","actor":{"type":"User","id":"%d"},"target":{"type":"Order","id":"%d"},"source":"app:crash"}`+"\n", ids[i], n%97, n)
					}
					resp, err := client.Post(s.url+"/v1/events", "application/x-ndjson", &body)
					if err != nil {
						return // the server is gone
					}
					var r struct {
						Accepted int `json:"accepted"`
					}
					err = json.NewDecoder(resp.Body).Decode(&r)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						return
					}
					if r.Accepted != batchSize {
						t.Errorf("accepted %d of %d", r.Accepted, batchSize)
						return
					}
					mu.Lock()
					for _, id := range ids {
						acked[id] = true
					}
					mu.Unlock()
					if done.Add(1) == killAt {
						once.Do(func() { s.kill(); close(stop) })
					}
				}
			}()
		}
		wg.Wait()
		once.Do(func() { s.kill(); close(stop) })
		t.Logf("round %d: killed after %d acknowledged requests", round, done.Load())
	}
	// A last clean run delivers everything the crashes left in the WAL.
	s := startServe(t, data, "--config", cfg)
	s.stop(t)

	out, err := run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0", "source:app:crash")
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		e, err := event.Decode(line)
		if err != nil {
			t.Fatalf("search printed a bad line %q: %v", line, err)
		}
		found[e.ID]++
	}
	archived := map[string]bool{}
	for _, e := range archivedEvents(t, filepath.Join(data, "archive")) {
		archived[e.ID] = true
	}
	if len(acked) < rounds*clients {
		t.Fatalf("only %d events acknowledged; the test did not exercise ingest", len(acked))
	}
	var missing, dup, unarchived []string
	for id := range acked {
		switch {
		case found[id] == 0:
			missing = append(missing, id)
		case found[id] > 1:
			dup = append(dup, id)
		}
		if !archived[id] {
			unarchived = append(unarchived, id)
		}
	}
	if len(missing)+len(dup)+len(unarchived) > 0 {
		t.Fatalf("%d acknowledged events: %d missing from search (%s), %d found twice, %d not archived",
			len(acked), len(missing), strings.Join(first(missing, 5), " "), len(dup), len(unarchived))
	}
	t.Logf("%d acknowledged events across %d kills: all found exactly once and archived", len(acked), rounds)
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
