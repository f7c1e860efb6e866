package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func post(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url+"/v1/events", "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

const sdkEvent = `{"schema":"kansa.audit/v1","time":"2024-08-06T18:00:59.981+09:00","action":"update","actor":{"type":"User","id":"42"},"target":{"type":"Order","id":"17"},"tenant":%q}`

func TestServeIngestSearchAndShutdown(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	s := startServe(t, data) // default 300 s batches: only SIGTERM cuts this one
	line, err := os.ReadFile("../../internal/mapping/testdata/line.json")
	if err != nil {
		t.Fatal(err)
	}
	body := strings.ReplaceAll(sdkEvent, "%q", `"acme"`) + "\nnot json\n" + string(bytes.TrimSpace(line)) + "\n"
	code, resp, _ := post(t, s.url, body)
	if code != 200 || resp != `{"accepted":2,"errors":[{"index":1,"error":"decode: invalid JSON at byte 0: invalid literal"}]}`+"\n" {
		t.Fatalf("POST = %d %s", code, resp)
	}
	// A JSON array, gzip-encoded.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`[` + strings.ReplaceAll(sdkEvent, "%q", `"../../x"`) + `]`))
	zw.Close()
	req, _ := http.NewRequest("POST", s.url+"/v1/events", &gz)
	req.Header.Set("Content-Encoding", "gzip")
	r2, err := http.DefaultClient.Do(req)
	if err != nil || r2.StatusCode != 200 {
		t.Fatalf("gzip array POST: %v %v", err, r2)
	}
	r2.Body.Close()

	// Accepted means findable at once, through the running server's socket.
	out, err := run(t, nil, "search", "--data", data, "--format", "json", "actor:User:42")
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(out, []byte("\n")); n != 2 {
		t.Fatalf("search via socket found %d events:\n%s", n, out)
	}
	out, err = run(t, nil, "search", "--data", data, "target:ModelType:1")
	if err != nil || !strings.Contains(string(out), "Admin::Account:1") {
		t.Fatalf("table search: %v\n%s", err, out)
	}
	resp2, _ := http.Get(s.url + "/metrics")
	metrics, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	for _, want := range []string{"kansa_accepted_total 3", `kansa_errors_total{type="decode"} 1`, "kansa_wal_bytes "} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	s.stop(t) // SIGTERM: the open batch is delivered, exit 0
	evs := archivedEvents(t, filepath.Join(data, "archive"))
	if len(evs) != 3 {
		t.Fatalf("archived %d events after SIGTERM, want 3", len(evs))
	}
	// The hostile tenant stayed inside its prefix.
	var files []string
	filepath.Walk(filepath.Join(data, "archive"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	archiveRoot := filepath.Join(data, "archive") + string(filepath.Separator)
	hostile := false
	for _, f := range files {
		if !strings.HasPrefix(f, archiveRoot) {
			t.Fatalf("file outside the archive: %s", f)
		}
		if strings.Contains(f, "tenant=..%2F..%2Fx/") {
			hostile = true
		}
	}
	if !hostile {
		t.Fatalf("no escaped partition for the hostile tenant among %v", files)
	}
	if _, err := os.Stat(filepath.Join(data, "x")); err == nil {
		t.Fatal("hostile tenant created a directory outside the archive")
	}
	// With no server running, search opens the directory itself.
	out, err = run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0", "tenant:../../x")
	if err != nil || bytes.Count(out, []byte("\n")) != 1 {
		t.Fatalf("offline search: %v\n%s", err, out)
	}
}

// TestBackPressure takes the archive down, fills the WAL, and checks that HTTP
// answers 503 with Retry-After, then recovers once the archive is back.
func TestBackPressure(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	// A regular file where the tenant's partition directory should be makes
	// every upload for that tenant fail, as a bucket that is down would.
	blocker := filepath.Join(data, "archive", "tenant=acme")
	os.MkdirAll(filepath.Dir(blocker), 0o755)
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "wal:\n  segment_bytes: 64KiB\n  max_bytes: 256KiB\nbatch:\n  max_bytes: 16KiB\n  max_interval: 10ms\n")
	s := startServe(t, data, "--config", cfg)
	defer s.kill()
	body := strings.Repeat(strings.ReplaceAll(sdkEvent, "%q", `"acme"`)+"\n", 50)
	full := false
	for range 200 {
		code, resp, h := post(t, s.url, body)
		if code == 503 {
			if h.Get("Retry-After") == "" || !strings.Contains(resp, "full") {
				t.Fatalf("503 without Retry-After or reason: %v %s", h, resp)
			}
			full = true
			break
		}
		if code != 200 {
			t.Fatalf("POST = %d %s", code, resp)
		}
	}
	if !full {
		t.Fatal("the WAL never filled while the archive was down")
	}
	resp, _ := http.Get(s.url + "/metrics")
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `kansa_sink_failures_total{sink="archive"}`) || strings.Contains(string(m), `kansa_sink_failures_total{sink="archive"} 0`) {
		t.Fatalf("sink failures not visible in metrics:\n%s", m)
	}
	// The archive comes back: everything accepted is delivered, and ingest
	// is accepted again.
	os.Remove(blocker)
	var health struct {
		Last     uint64 `json:"wal_durable"`
		Archived uint64 `json:"archived_through"`
	}
	for {
		code, _, _ := post(t, s.url, body)
		if code == 200 {
			break
		}
		if code != 503 {
			t.Fatalf("POST after recovery = %d", code)
		}
		// Wait for the sink's next retry through the health endpoint (its
		// backoff is at most 30 s; the test's own timeout bounds this).
		r, err := http.Get(s.url + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(r.Body).Decode(&health)
		r.Body.Close()
	}
	s.stop(t)
	evs := archivedEvents(t, filepath.Join(data, "archive"))
	if len(evs) == 0 {
		t.Fatal("nothing archived after recovery")
	}
}
