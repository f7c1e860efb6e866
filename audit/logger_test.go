package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// memOutput keeps every line it is given.
type memOutput struct {
	mu    sync.Mutex
	lines [][]byte
	fail  error
	block chan struct{} // when set, Write waits on it
}

func (o *memOutput) Write(line []byte) error {
	if o.block != nil {
		<-o.block
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.fail != nil {
		return o.fail
	}
	o.lines = append(o.lines, bytes.Clone(line))
	return nil
}
func (o *memOutput) Sync() error                 { return nil }
func (o *memOutput) Close(context.Context) error { return nil }

// events decodes the lines as generic JSON objects.
func (o *memOutput) events(t *testing.T) []map[string]any {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []map[string]any
	for _, l := range o.lines {
		if !bytes.HasSuffix(l, []byte("\n")) || bytes.Count(l, []byte("\n")) != 1 {
			t.Fatalf("not one line: %q", l)
		}
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(l))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatalf("line is not JSON: %v\n%s", err, l)
		}
		out = append(out, m)
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newTestLogger(t *testing.T, out Output, cfg Config) *Logger {
	t.Helper()
	cfg.Output = out
	if cfg.Source == "" {
		cfg.Source = "app:test"
	}
	if cfg.Host == "" {
		cfg.Host = "host-1"
	}
	if cfg.Logger == nil {
		cfg.Logger = quiet()
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func TestEventEncoding(t *testing.T) {
	out := &memOutput{}
	l := newTestLogger(t, out, Config{Tenant: "acme", HeartbeatInterval: -1})
	ctx := WithScope(context.Background(), Scope{
		Actor: Actor{Type: "User", ID: "42", Name: "Ayu"}, IP: "203.0.113.7",
		UserAgent: "curl/8", RequestID: "r-1", Endpoint: "PATCH /orders/{id}", Host: "shop.example",
	})
	at := time.Date(2024, 8, 6, 18, 0, 59, 981_000_000, time.FixedZone("JST", 9*3600))
	l.Record(ctx, Event{
		ID: "0190f1c2-7a3b-7c00-8000-000000000001", Time: at, Action: ActionUpdate,
		Target: Target{Type: "Order", ID: "17", Table: "orders"},
		Changes: []Change{
			Diff("total", int64(math.MaxInt64), uint64(9007199254740993)),
			Diff("note", "a\"b\n", "名前\u2028"),
			Diff("password_digest", Redacted, Redacted),
			Diff("paid_at", nil, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)),
			Value("raw", json.RawMessage(`{"k":[1,2]}`)),
			Diff("ratio", 0.5, float32(2)),
			Value("flags", []string{"x"}),
		},
		Meta: map[string]any{"reason": "refund"},
	})
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"kansa.audit/v1","id":"0190f1c2-7a3b-7c00-8000-000000000001","time":"2024-08-06T18:00:59.981+09:00","action":"update",` +
		`"actor":{"type":"User","id":"42","name":"Ayu"},"target":{"type":"Order","id":"17","table":"orders"},` +
		`"changes":{"total":[9223372036854775807,9007199254740993],"note":["a\"b\n","名前\u2028"],"password_digest":["[REDACTED]","[REDACTED]"],` +
		`"paid_at":[null,"2024-01-02T03:04:05Z"],"raw":{"k":[1,2]},"ratio":[0.5,2],"flags":["x"]},` +
		`"context":{"host":"shop.example","ip":"203.0.113.7","user_agent":"curl/8","request_id":"r-1","endpoint":"PATCH /orders/{id}"},` +
		`"source":"app:test","tenant":"acme","seq":{"stream":"` + l.Stream() + `","n":1},"meta":{"reason":"refund"}}` + "\n"
	if got := string(out.lines[0]); got != want {
		t.Fatalf("encoding:\n got %s\nwant %s", got, want)
	}
}

func TestFailureOutcomeAndGeneratedFields(t *testing.T) {
	out := &memOutput{}
	l := newTestLogger(t, out, Config{HeartbeatInterval: -1})
	before := time.Now()
	l.Record(context.Background(), Event{Action: ActionLogin, Outcome: Failure, Error: "bad password",
		Actor: Actor{Type: "User", ID: "7"}})
	l.Flush(context.Background())
	ev := out.events(t)[0]
	if ev["outcome"] != "failure" || ev["meta"].(map[string]any)["error"] != "bad password" {
		t.Fatalf("outcome/meta.error: %v", ev)
	}
	id := ev["id"].(string)
	if len(id) != 36 || id[14] != '7' || !strings.ContainsAny(id[19:20], "89ab") {
		t.Fatalf("id %q is not a UUIDv7", id)
	}
	ts, err := time.Parse(time.RFC3339Nano, ev["time"].(string))
	if err != nil || ts.Before(before.Truncate(time.Microsecond)) || ts.After(time.Now()) {
		t.Fatalf("time %v (err %v) not now", ev["time"], err)
	}
	// No scope: the caller is this test function, found from the stack.
	if c := ev["context"].(map[string]any)["caller"]; c != "github.com/kansa-audit/kansa/audit.TestFailureOutcomeAndGeneratedFields" {
		t.Fatalf("caller %v", c)
	}
	if ev["context"].(map[string]any)["host"] != "host-1" {
		t.Fatalf("host %v", ev["context"])
	}
}

func TestSeqIsGapFreeAndHeartbeatsRepeatTheLast(t *testing.T) {
	out := &memOutput{}
	l := newTestLogger(t, out, Config{HeartbeatInterval: -1})
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				l.Record(context.Background(), Event{Action: "thing.do"})
			}
		}()
	}
	wg.Wait()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := out.events(t)
	seen := map[int64]bool{}
	var hb []map[string]any
	for _, ev := range evs {
		sq := ev["seq"].(map[string]any)
		if sq["stream"] != l.Stream() {
			t.Fatalf("stream %v", sq["stream"])
		}
		n, _ := sq["n"].(json.Number).Int64()
		if ev["action"] == ActionHeartbeat {
			hb = append(hb, ev)
			continue
		}
		if seen[n] {
			t.Fatalf("n %d twice", n)
		}
		seen[n] = true
	}
	for n := int64(1); n <= goroutines*each; n++ {
		if !seen[n] {
			t.Fatalf("gap at %d", n)
		}
	}
	if len(hb) != 1 || hb[0]["seq"].(map[string]any)["n"].(json.Number).String() != "4000" {
		t.Fatalf("heartbeats at close: %v", hb)
	}
	if s := l.Stats(); s.Recorded != 4000 || s.Written != 4000 || s.Dropped != 0 || s.Heartbeats != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestPeriodicHeartbeat(t *testing.T) {
	out := &memOutput{}
	l := newTestLogger(t, out, Config{HeartbeatInterval: time.Millisecond})
	l.Record(context.Background(), Event{Action: "a"})
	l.Record(context.Background(), Event{Action: "a"})
	deadline := time.Now().Add(10 * time.Second)
	for l.Stats().Heartbeats == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no heartbeat")
		}
		time.Sleep(time.Millisecond) // polling a counter, not ordering work
	}
	l.Flush(context.Background())
	for _, ev := range out.events(t) {
		if ev["action"] == ActionHeartbeat && ev["seq"].(map[string]any)["n"].(json.Number).String() == "2" {
			return
		}
	}
	t.Fatal("heartbeat with n=2 not written")
}

func TestDropsAreCountedAndLeaveGaps(t *testing.T) {
	out := &memOutput{block: make(chan struct{})}
	var logBuf syncBuffer
	l := newTestLogger(t, out, Config{QueueSize: 4, HeartbeatInterval: -1,
		Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	// The writer takes what is queued (at most four) and blocks in Write;
	// at most four more fill the queue; the rest are dropped.
	for i := 0; i < 20; i++ {
		l.Record(context.Background(), Event{Action: "a"})
	}
	st := l.Stats()
	close(out.block)
	l.Close(context.Background())
	if st.Dropped < 20-2*4 || st.Recorded+st.Dropped != 20 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(logBuf.String(), "events dropped") {
		t.Fatalf("no log line for the drop: %q", logBuf.String())
	}
	// The heartbeat at close names the last number, so the gap shows.
	evs := out.events(t)
	last := evs[len(evs)-1]
	if last["action"] != ActionHeartbeat || last["seq"].(map[string]any)["n"].(json.Number).String() != "20" {
		t.Fatalf("last line %v", last)
	}
	l.Record(context.Background(), Event{Action: "late"})
	if l.Stats().Dropped != st.Dropped+1 {
		t.Fatal("a Record after Close is not counted as dropped")
	}
}

func TestOutputErrorCountsAsDrop(t *testing.T) {
	out := &memOutput{fail: errors.New("disk on fire")}
	l := newTestLogger(t, out, Config{HeartbeatInterval: -1})
	l.Record(context.Background(), Event{Action: "a"})
	l.Flush(context.Background())
	if s := l.Stats(); s.Dropped != 1 || s.Written != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestJobNamesItsCaller(t *testing.T) {
	out := &memOutput{}
	l := newTestLogger(t, out, Config{HeartbeatInterval: -1})
	ctx := Job(context.Background(), Actor{Type: "service", ID: "billing"})
	done := make(chan struct{})
	go func() { // a goroutine of the job records with the job's context
		defer close(done)
		l.Record(ctx, Event{Action: "invoice.send"})
	}()
	<-done
	l.Flush(context.Background())
	ev := out.events(t)[0]
	if c := ev["context"].(map[string]any)["caller"]; c != "github.com/kansa-audit/kansa/audit.TestJobNamesItsCaller" {
		t.Fatalf("caller %v", c)
	}
	if a := ev["actor"].(map[string]any); a["type"] != "service" || a["id"] != "billing" {
		t.Fatalf("actor %v", a)
	}
}

func TestSetActorIsSeenByEarlierContexts(t *testing.T) {
	base := WithScope(context.Background(), Scope{RequestID: "r"})
	inner := context.WithValue(base, struct{ k int }{}, 1)
	if !SetActor(inner, Actor{Type: "User", ID: "9"}) {
		t.Fatal("SetActor found no scope")
	}
	if a := ScopeFrom(base).Actor; a.ID != "9" {
		t.Fatalf("actor %v", a)
	}
	if SetActor(context.Background(), Actor{ID: "1"}) {
		t.Fatal("SetActor without a scope reported success")
	}
	if WithActor(base, Actor{ID: "2"}) == base || ScopeFrom(base).Actor.ID != "9" {
		t.Fatal("WithActor changed its parent")
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func slogTo(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// lateChanges is a ChangeSet over values nothing else writes.
type lateChanges struct{ old, new [2]int64 }

func (c *lateChanges) EachChange(yield func(Change)) {
	yield(Diff("a", c.old[0], c.new[0]))
	yield(Diff("b", c.old[1], c.new[1]))
}

func TestChangeSetFollowsChanges(t *testing.T) {
	out := &memOutput{}
	l := newTestLogger(t, out, Config{HeartbeatInterval: -1})
	ctx := WithCaller(context.Background(), "t")
	l.Record(ctx, Event{Action: ActionUpdate, Changes: []Change{Value("z", true)},
		ChangeSet: &lateChanges{old: [2]int64{1, 2}, new: [2]int64{3, 4}}})
	l.Record(ctx, Event{Action: ActionUpdate, ChangeSet: &lateChanges{}})
	l.Record(ctx, Event{Action: ActionUpdate, ChangeSet: emptyChanges{}})
	l.Flush(ctx)
	for i, want := range []string{`"changes":{"z":true,"a":[1,3],"b":[2,4]}`, `"changes":{"a":[0,0],"b":[0,0]}`, ""} {
		line := string(out.lines[i])
		if want == "" && strings.Contains(line, "changes") || want != "" && !strings.Contains(line, want) {
			t.Errorf("line %d: %s\nwant %s", i, line, want)
		}
	}
}

type emptyChanges struct{}

func (emptyChanges) EachChange(func(Change)) {}

func TestEventWithoutActionIsRefusedUnnumbered(t *testing.T) {
	out := &memOutput{}
	var logs syncBuffer
	l := newTestLogger(t, out, Config{HeartbeatInterval: -1, Logger: slogTo(&logs)})
	l.Record(context.Background(), Event{})
	l.Record(context.Background(), Event{Action: "a"})
	l.Close(context.Background())
	evs := out.events(t)
	if len(evs) != 2 || evs[0]["seq"].(map[string]any)["n"].(json.Number).String() != "1" {
		t.Fatalf("events %v", evs)
	}
	if s := l.Stats(); s.Invalid != 1 || s.Dropped != 0 || s.Recorded != 1 {
		t.Fatalf("stats %+v", s)
	}
	if !strings.Contains(logs.String(), "without an Action") {
		t.Fatalf("log %q", logs.String())
	}
}
