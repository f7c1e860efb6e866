package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestEvents(t *testing.T) {
	var next atomic.Uint64
	g := newGenerator("hl-test-", &next, 1)
	body := g.appendBatch(nil, 1000, time.Date(2024, 8, 6, 18, 0, 59, 981e6, time.FixedZone("", 9*3600)))
	lines := bytes.Split(bytes.TrimSuffix(body, []byte("\n")), []byte("\n"))
	if len(lines) != 1000 {
		t.Fatalf("%d lines, want 1000", len(lines))
	}
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := map[string]bool{}
	actors := map[string]bool{}
	for _, l := range lines {
		var e struct {
			Schema, ID, Time string
			Actor            struct{ ID string }
			Context          struct {
				RequestID string `json:"request_id"`
			}
		}
		if err := json.Unmarshal(l, &e); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		if e.Schema != "kansa.audit/v1" || e.Time != "2024-08-06T18:00:59.981+09:00" || !uuid.MatchString(e.Context.RequestID) {
			t.Fatalf("bad event %s", l)
		}
		ids[e.ID] = true
		actors[e.Actor.ID] = true
	}
	if len(ids) != 1000 || !ids["hl-test-0"] || !ids["hl-test-999"] {
		t.Fatalf("%d distinct ids, want hl-test-0..999", len(ids))
	}
	if len(actors) < 900 {
		t.Fatalf("only %d distinct actors in 1000 events", len(actors))
	}
	if avg := len(body) / 1000; avg < 400 || avg > 440 {
		t.Fatalf("average event is %d bytes, want about 420", avg)
	}
}

func TestParseAccepted(t *testing.T) {
	for in, want := range map[string]int{
		`{"accepted":500,"errors":[]}`:                     500,
		`{"errors":[{"index":3}], "accepted" : 7}`:         7,
		`{"accepted":0,"errors":[{"index":0,"error":""}]}`: 0,
		`{"accepted":"5"}`:                                 -1,
		`{"error":"x"}`:                                    -1,
	} {
		got, ok := parseAccepted([]byte(in))
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("parseAccepted(%s) = %d, want %d", in, got, want)
		}
	}
}

func TestHist(t *testing.T) {
	for v := int64(0); v < 1<<20; v += 1 + v/50 {
		if i := histIndex(v); i < 0 || i >= histBuckets || histIndex(histMid(i)) != i {
			t.Fatalf("value %d: bucket %d, whose middle %d is in bucket %d", v, i, histMid(i), histIndex(histMid(i)))
		}
	}
	if i := histIndex(math.MaxInt64); i != histBuckets-1 {
		t.Fatalf("MaxInt64 in bucket %d of %d", i, histBuckets)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var h hist
	vals := make([]int64, 100_000)
	for i := range vals {
		vals[i] = int64(rng.ExpFloat64() * 5e6) // ~5ms mean
		h.record(time.Duration(vals[i]))
	}
	slices.Sort(vals)
	for _, q := range []float64{.5, .9, .99, .999, 1} {
		exact := float64(vals[int(math.Ceil(q*float64(len(vals))))-1])
		if got := float64(h.quantile(q)); math.Abs(got-exact)/exact > 0.01 {
			t.Errorf("q%v = %v, exact %v", q, got, exact)
		}
	}
}

// TestRun drives a fake server in both modes and checks the counts add up.
func TestRun(t *testing.T) {
	var events, requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		n := bytes.Count(b, []byte("\n"))
		if requests.Add(1)%10 == 0 {
			// No Retry-After: the client's own 100ms pause keeps 503s
			// inside the 1s window. With "Retry-After: 1" every
			// connection could spend the whole window waiting.
			http.Error(w, `{"error":"full"}`, http.StatusServiceUnavailable)
			return
		}
		events.Add(int64(n))
		io.WriteString(w, `{"accepted":`+strconv.Itoa(n)+`,"errors":[]}`)
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"-mode", "throughput", "-conns", "3", "-batch", "50", "-gzip"},
		{"-mode", "latency", "-conns", "4", "-batch", "10", "-rate", "20000"},
	} {
		var out bytes.Buffer
		args = append(args, "-url", srv.URL, "-duration", "1s", "-warmup", "200ms", "-every", "300ms", "-json")
		if err := run(args, &out); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		var s summary
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		if s.Events == 0 || s.Events%int64(s.Batch) != 0 || s.Rejected != 0 || s.OK+s.NonOK["503"] != s.Requests || s.NonOK["503"] == 0 {
			t.Errorf("%v: implausible summary\n%s", args, out.String())
		}
		if s.MeasuredSec < 0.95 || s.MeasuredSec > 1.1 || s.LatencyMs.P50 <= 0 || s.LatencyMs.Max < s.LatencyMs.P999 {
			t.Errorf("%v: bad timing in summary\n%s", args, out.String())
		}
		// Never more than the schedule since the start (requests due in the
		// warmup but handed over late are counted in the window); fewer when
		// the machine is too busy to hand requests over on time (the suite
		// runs packages in parallel).
		if due := int64(2000*(0.2+s.MeasuredSec)) + 50; s.Mode == "latency" && (s.Scheduled < 500 || s.Scheduled > due) {
			t.Errorf("%d requests handed over in %.3fs after a 200ms warmup at 2000/s (at most %d)", s.Scheduled, s.MeasuredSec, due)
		}
		t.Log(out.String())
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	var next atomic.Uint64
	g := newGenerator("hl-bench-", &next, 1)
	buf := g.appendBatch(nil, 500, time.Now())
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = g.appendBatch(buf[:0], 500, time.Now())
	}
}

// TestProbe: a busy server (429, 503) passes the probe, since the load
// measures exactly that; a wrong path or a dead port fails it.
func TestProbe(t *testing.T) {
	for code, ok := range map[int]bool{200: true, 429: true, 503: true, 404: false, 400: false} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		}))
		cfg, err := parseFlags([]string{"-url", srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		err = newLoad(cfg, "hl-probe-").probe()
		srv.Close()
		if (err == nil) != ok {
			t.Errorf("answer %d: probe error %v, want ok=%v", code, err, ok)
		}
	}
	cfg, _ := parseFlags([]string{"-url", "http://127.0.0.1:1/v1/events"})
	if err := newLoad(cfg, "hl-probe-").probe(); err == nil {
		t.Error("probe of a closed port succeeded")
	}
}
