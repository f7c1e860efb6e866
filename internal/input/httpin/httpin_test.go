package httpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/node"
)

func newHandler(t testing.TB, maxBody int64) (*Handler, *node.Node) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown(context.Background()) })
	return New(Config{MaxBodyBytes: maxBody}, n.Ingest), n
}

type answer struct {
	Accepted int `json:"accepted"`
	Errors   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"errors"`
	Error string `json:"error"`
}

func do(t testing.TB, h http.Handler, method, body string, hdr map[string]string) (int, answer) {
	req := httptest.NewRequest(method, "/v1/events", strings.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var a answer
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatalf("answer %q is not JSON: %v", rec.Body.String(), err)
	}
	return rec.Code, a
}

const good = `{"schema":"kansa.audit/v1","time":"2024-08-06T18:00:59Z","action":"user.login","actor":{"type":"User","id":"1"}}`

func TestNDJSONAndArray(t *testing.T) {
	h, n := newHandler(t, 0)
	code, a := do(t, h, "POST", good+"\n\n"+`{"schema":"kansa.audit/v1","action":"x"}`+"\r\n"+good, nil)
	if code != 200 || a.Accepted != 2 || len(a.Errors) != 1 || a.Errors[0].Index != 1 || !strings.Contains(a.Errors[0].Error, `"time": required`) {
		t.Fatalf("%d %+v", code, a)
	}
	code, a = do(t, h, "POST", "  ["+good+", 5, "+good+"]", nil)
	if code != 200 || a.Accepted != 2 || len(a.Errors) != 1 || a.Errors[0].Index != 1 {
		t.Fatalf("array: %d %+v", code, a)
	}
	if n.WAL.Synced() != n.WAL.Last() || n.WAL.Last() != 6 {
		t.Fatalf("answered before durable, or records missing: last %d synced %d", n.WAL.Last(), n.WAL.Synced())
	}
	code, a = do(t, h, "POST", "", nil)
	if code != 200 || a.Accepted != 0 {
		t.Fatalf("empty body: %d %+v", code, a)
	}
}

func TestGzip(t *testing.T) {
	h, _ := newHandler(t, 0)
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(good + "\n" + good))
	zw.Close()
	code, a := do(t, h, "POST", b.String(), map[string]string{"Content-Encoding": "gzip"})
	if code != 200 || a.Accepted != 2 {
		t.Fatalf("%d %+v", code, a)
	}
	code, _ = do(t, h, "POST", "not gzip", map[string]string{"Content-Encoding": "gzip"})
	if code != 400 {
		t.Fatalf("bad gzip: %d", code)
	}
	code, _ = do(t, h, "POST", good, map[string]string{"Content-Encoding": "br"})
	if code != 415 {
		t.Fatalf("brotli: %d", code)
	}
}

func TestLimits(t *testing.T) {
	h, n := newHandler(t, 1000)
	body := strings.Repeat(good+"\n", 10)
	code, a := do(t, h, "POST", body, nil)
	if code != 413 || !strings.Contains(a.Error, "over 1000 bytes") {
		t.Fatalf("%d %+v", code, a)
	}
	if n.WAL.Last() != 0 {
		t.Fatal("part of a 413 request was accepted")
	}
	code, _ = do(t, h, "POST", "[1,", nil)
	if code != 400 {
		t.Fatalf("broken array: %d", code)
	}
	code, _ = do(t, h, "GET", "", nil)
	if code != 405 {
		t.Fatalf("GET: %d", code)
	}
}

// FuzzIngest: whatever the body, the answer is 200 or 400, and accepted plus
// errors account for every item.
func FuzzIngest(f *testing.F) {
	f.Add(good + "\n" + good)
	f.Add("[" + good + ",{}]")
	f.Add("{\n")
	h, _ := newHandler(f, 0)
	f.Fuzz(func(t *testing.T, body string) {
		code, a := do(t, h, "POST", body, nil)
		if code != 200 && code != 400 {
			t.Fatalf("code %d for %q", code, body)
		}
		if code == 200 {
			for i, e := range a.Errors {
				if e.Error == "" || (i > 0 && e.Index <= a.Errors[i-1].Index) {
					t.Fatalf("bad errors list %+v", a.Errors)
				}
			}
		}
	})
}
