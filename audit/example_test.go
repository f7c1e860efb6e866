package audit_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kansa-audit/kansa/audit"
)

// printer is an Output that prints the parts of each event an example
// shows; ids, times and the stream id are random and left out.
type printer struct{}

func (printer) Write(line []byte) error {
	var ev struct {
		Action  string            `json:"action"`
		Outcome string            `json:"outcome"`
		Actor   map[string]string `json:"actor"`
		Target  map[string]string `json:"target"`
		Changes json.RawMessage   `json:"changes"`
		Context map[string]string `json:"context"`
		Tenant  string            `json:"tenant"`
		Seq     struct{ N int }   `json:"seq"`
		Meta    json.RawMessage   `json:"meta"`
	}
	if err := json.Unmarshal(line, &ev); err != nil {
		return err
	}
	if ev.Action == audit.ActionHeartbeat {
		return nil // every example ends with one, at Close
	}
	fmt.Printf("%d %s", ev.Seq.N, ev.Action)
	if ev.Outcome != "" {
		fmt.Printf(" outcome=%s", ev.Outcome)
	}
	if ev.Actor != nil {
		fmt.Printf(" actor=%s:%s", ev.Actor["type"], ev.Actor["id"])
	}
	if ev.Target != nil {
		fmt.Printf(" target=%s:%s", ev.Target["type"], ev.Target["id"])
	}
	if ev.Changes != nil {
		fmt.Printf(" changes=%s", ev.Changes)
	}
	for _, k := range []string{"ip", "request_id", "endpoint", "caller"} {
		if v := ev.Context[k]; v != "" {
			fmt.Printf(" %s=%s", k, v)
		}
	}
	if ev.Tenant != "" {
		fmt.Printf(" tenant=%s", ev.Tenant)
	}
	if ev.Meta != nil {
		fmt.Printf(" meta=%s", ev.Meta)
	}
	fmt.Println()
	return nil
}
func (printer) Sync() error                 { return nil }
func (printer) Close(context.Context) error { return nil }

func newLogger() *audit.Logger {
	l, err := audit.New(audit.Config{Output: printer{}, Source: "app:shop", HeartbeatInterval: -1})
	if err != nil {
		panic(err)
	}
	return l
}

func ExampleNew() {
	// JSON lines on stdout, for kansa route (or any log router) to pick up.
	l, err := audit.New(audit.Config{Output: audit.Stdout(), Source: "app:shop"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	defer l.Close(context.Background())
}

func ExampleLogger_Record() {
	l := newLogger()
	ctx := audit.WithActor(context.Background(), audit.Actor{Type: "User", ID: "42"})
	l.Record(ctx, audit.Event{
		Action:  audit.ActionUpdate,
		Target:  audit.Target{Type: "Order", ID: "17", Table: "orders"},
		Changes: []audit.Change{audit.Diff("status", "paid", "shipped")},
	})
	l.Record(ctx, audit.Event{
		Action:  audit.ActionLogin,
		Outcome: audit.Failure,
		Error:   "wrong password",
	})
	l.Close(context.Background())
	// Output:
	// 1 update actor=User:42 target=Order:17 changes={"status":["paid","shipped"]} caller=github.com/kansa-audit/kansa/audit_test.ExampleLogger_Record
	// 2 user.login outcome=failure actor=User:42 caller=github.com/kansa-audit/kansa/audit_test.ExampleLogger_Record meta={"error":"wrong password"}
}

func ExampleLogger_Flush() {
	l := newLogger()
	l.Record(context.Background(), audit.Event{Action: audit.ActionExportDownload, Target: audit.Target{Type: "Report", ID: "q3"}})
	// Wait until the event is durable: spooled, in a file, or on stdout.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Flush(ctx); err != nil {
		fmt.Println("flush:", err)
	}
	// Output:
	// 1 export.download target=Report:q3 caller=github.com/kansa-audit/kansa/audit_test.ExampleLogger_Flush
}

func ExampleLogger_Close() {
	l := newLogger()
	// At shutdown: flush, write the last heartbeat, deliver what can be
	// delivered in 10 s.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Close(ctx); err != nil {
		fmt.Println("close:", err)
	}
	// Output:
}

func ExampleLogger_Stats() {
	l := newLogger()
	l.Record(context.Background(), audit.Event{Action: "secret.view"})
	l.Close(context.Background())
	s := l.Stats()
	fmt.Println("recorded", s.Recorded, "written", s.Written, "dropped", s.Dropped, "heartbeats", s.Heartbeats)
	// Output:
	// 1 secret.view caller=github.com/kansa-audit/kansa/audit_test.ExampleLogger_Stats
	// recorded 1 written 1 dropped 0 heartbeats 1
}

func ExampleLogger_Stream() {
	l := newLogger()
	defer l.Close(context.Background())
	fmt.Println(len(l.Stream()))
	// Output: 24
}

func ExampleMiddleware() {
	l := newLogger()
	mux := http.NewServeMux()
	mux.HandleFunc("DELETE /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		l.Record(r.Context(), audit.Event{Action: audit.ActionDelete, Target: audit.Target{Type: "Order", ID: r.PathValue("id")}})
	})
	h := audit.Middleware(audit.HTTPConfig{
		Actor: func(r *http.Request) (audit.Actor, bool) {
			id := r.Header.Get("X-User") // in a real application: the checked session
			return audit.Actor{Type: "User", ID: id}, id != ""
		},
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
	})(mux)

	r := httptest.NewRequest("DELETE", "/orders/17", nil)
	r.RemoteAddr = "192.0.2.10:41000" // the load balancer
	r.Header.Set("X-Forwarded-For", "203.0.113.7")
	r.Header.Set("X-Request-Id", "req-1")
	r.Header.Set("X-User", "42")
	h.ServeHTTP(httptest.NewRecorder(), r)
	l.Close(context.Background())
	// Output:
	// 1 delete actor=User:42 target=Order:17 ip=203.0.113.7 request_id=req-1 endpoint=DELETE /orders/{id}
}

func ExampleSetActor() {
	l := newLogger()
	login := func(w http.ResponseWriter, r *http.Request) {
		// After checking the password, the actor is known for the rest of
		// the request.
		audit.SetActor(r.Context(), audit.Actor{Type: "User", ID: "42"})
		l.Record(r.Context(), audit.Event{Action: audit.ActionLogin})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /login", login)
	r := httptest.NewRequest("POST", "/login", nil)
	r.Header.Set("X-Request-Id", "req-2")
	audit.Middleware(audit.HTTPConfig{})(mux).ServeHTTP(httptest.NewRecorder(), r)
	l.Close(context.Background())
	// Output:
	// 1 user.login actor=User:42 ip=192.0.2.1 request_id=req-2 endpoint=POST /login
}

func ExampleSetEndpoint() {
	l := newLogger()
	// A router other than ServeMux names the route itself.
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		audit.SetEndpoint(r.Context(), "GET /reports/:id")
		l.Record(r.Context(), audit.Event{Action: audit.ActionSecretView, Target: audit.Target{Type: "Report", ID: "9"}})
	})
	r := httptest.NewRequest("GET", "/reports/9", nil)
	r.Header.Set("X-Request-Id", "req-3")
	audit.Middleware(audit.HTTPConfig{})(h).ServeHTTP(httptest.NewRecorder(), r)
	l.Close(context.Background())
	// Output:
	// 1 secret.view target=Report:9 ip=192.0.2.1 request_id=req-3 endpoint=GET /reports/:id
}

func ExampleJob() {
	l := newLogger()
	ctx := audit.Job(context.Background(), audit.Actor{Type: "service", ID: "billing"})
	l.Record(ctx, audit.Event{Action: "invoice.send", Target: audit.Target{Type: "Invoice", ID: "2024-001"}})
	l.Close(context.Background())
	// Output:
	// 1 invoice.send actor=service:billing target=Invoice:2024-001 caller=github.com/kansa-audit/kansa/audit_test.ExampleJob
}

func ExampleWithCaller() {
	l := newLogger()
	ctx := audit.WithCaller(context.Background(), "cmd/reindex")
	l.Record(ctx, audit.Event{Action: "search.reindex"})
	l.Close(context.Background())
	// Output:
	// 1 search.reindex caller=cmd/reindex
}

func ExampleWithActor() {
	ctx := audit.WithActor(context.Background(), audit.Actor{Type: "Admin::Account", ID: "3"})
	fmt.Println(audit.ScopeFrom(ctx).Actor.Type)
	// Output: Admin::Account
}

func ExampleWithTenant() {
	l := newLogger()
	ctx := audit.WithTenant(audit.WithCaller(context.Background(), "import"), "acme")
	l.Record(ctx, audit.Event{Action: audit.ActionCreate, Target: audit.Target{Type: "User", ID: "8"}})
	l.Close(context.Background())
	// Output:
	// 1 create target=User:8 caller=import tenant=acme
}

func ExampleWithScope() {
	// A consumer restores the scope a message was produced in.
	ctx := audit.WithScope(context.Background(), audit.Scope{RequestID: "req-7", Caller: "orders.consumer"})
	fmt.Println(audit.ScopeFrom(ctx).RequestID)
	// Output: req-7
}

func ExampleScopeFrom() {
	fmt.Printf("%q\n", audit.ScopeFrom(context.Background()).RequestID)
	// Output: ""
}

func ExampleDiff() {
	l := newLogger()
	ctx := audit.WithCaller(context.Background(), "admin")
	l.Record(ctx, audit.Event{Action: audit.ActionUpdate, Target: audit.Target{Type: "User", ID: "1"},
		Changes: []audit.Change{
			audit.Diff("email", "a@example.com", "b@example.com"),
			audit.Diff("password_digest", audit.Redacted, audit.Redacted),
		}})
	l.Close(context.Background())
	// Output:
	// 1 update target=User:1 changes={"email":["a@example.com","b@example.com"],"password_digest":["[REDACTED]","[REDACTED]"]} caller=admin
}

func ExampleValue() {
	l := newLogger()
	ctx := audit.WithCaller(context.Background(), "admin")
	l.Record(ctx, audit.Event{Action: audit.ActionCreate, Target: audit.Target{Type: "Order", ID: "18"},
		Changes: []audit.Change{audit.Value("total", 1200), audit.Value("note", nil)}})
	l.Close(context.Background())
	// Output:
	// 1 create target=Order:18 changes={"total":1200,"note":null} caller=admin
}

func ExampleNewClient() {
	dir, _ := os.MkdirTemp("", "spool")
	defer os.RemoveAll(dir)
	c, err := audit.NewClient(audit.ClientConfig{
		URL:      "http://127.0.0.1:7700", // kansa serve
		SpoolDir: filepath.Join(dir, "audit-spool"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	l, err := audit.New(audit.Config{Output: c, Source: "app:shop"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Give delivery up to 5 s at shutdown; what is left stays spooled.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.Close(ctx)
	// Output:
}

func ExampleStdout() {
	l, _ := audit.New(audit.Config{Output: audit.Stdout(), Source: "app:shop", HeartbeatInterval: -1})
	l.Record(context.Background(), audit.Event{Action: audit.ActionLogout})
	l.Close(context.Background())
}

func ExampleOpenFile() {
	dir, _ := os.MkdirTemp("", "audit")
	defer os.RemoveAll(dir)
	out, err := audit.OpenFile(filepath.Join(dir, "audit.log"))
	if err != nil {
		fmt.Println(err)
		return
	}
	l, _ := audit.New(audit.Config{Output: out, HeartbeatInterval: -1})
	l.Record(context.Background(), audit.Event{Action: audit.ActionLogout})
	l.Close(context.Background())
	b, _ := os.ReadFile(filepath.Join(dir, "audit.log"))
	fmt.Println(strings.Count(string(b), `"action":"user.logout"`), "logout,", strings.Count(string(b), `"action":"kansa.heartbeat"`), "heartbeat")
	// Output: 1 logout, 1 heartbeat
}

func ExampleNewWriterOutput() {
	var sb strings.Builder
	l, _ := audit.New(audit.Config{Output: audit.NewWriterOutput(&sb), HeartbeatInterval: -1})
	l.Record(context.Background(), audit.Event{Action: audit.ActionLogin})
	l.Close(context.Background())
	fmt.Println(strings.HasPrefix(sb.String(), `{"schema":"kansa.audit/v1","id":"`))
	// Output: true
}

func ExampleNewSlogHandler() {
	h := audit.NewSlogHandler(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{} // for a stable example
			}
			return a
		},
	}))
	log := slog.New(h)
	ctx := audit.WithScope(context.Background(), audit.Scope{RequestID: "req-9", Actor: audit.Actor{Type: "User", ID: "42"}})
	log.InfoContext(ctx, "order shipped", "order", 17)
	// Output: level=INFO msg="order shipped" order=17 request_id=req-9 actor=User:42
}

func ExampleNewSlogOutput() {
	h := slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			switch a.Key {
			case slog.TimeKey, "id", "seq", "context":
				return slog.Attr{} // random or host-specific; dropped for a stable example
			}
			return a
		},
	})
	l, _ := audit.New(audit.Config{Output: audit.NewSlogOutput(h, slog.LevelInfo), Source: "app:shop", HeartbeatInterval: -1})
	l.Record(context.Background(), audit.Event{Action: audit.ActionLogin, Actor: audit.Actor{Type: "User", ID: "42"}})
	l.Close(context.Background())
	// Output:
	// {"level":"INFO","msg":"audit","schema":"kansa.audit/v1","action":"user.login","actor":{"type":"User","id":"42"},"source":"app:shop"}
	// {"level":"INFO","msg":"audit","schema":"kansa.audit/v1","action":"kansa.heartbeat","source":"app:shop"}
}

// priceChange is a ChangeSet an adapter might write: it keeps copies that
// nothing else writes, and boxes the values only when the Logger's
// goroutine encodes the event.
type priceChange struct{ old, new int64 }

func (c *priceChange) EachChange(yield func(audit.Change)) {
	yield(audit.Diff("price_cents", c.old, c.new))
}

func ExampleChangeSet() {
	l := newLogger()
	ctx := audit.WithCaller(context.Background(), "repricer")
	l.Record(ctx, audit.Event{Action: audit.ActionUpdate, Target: audit.Target{Type: "Product", ID: "4"},
		ChangeSet: &priceChange{old: 1200, new: 1350}})
	l.Close(context.Background())
	// Output:
	// 1 update target=Product:4 changes={"price_cents":[1200,1350]} caller=repricer
}

// lines is an Output that counts what it is given; a real one writes the
// lines somewhere and makes them durable in Sync.
type lines struct{ n int }

func (o *lines) Write(line []byte) error         { o.n++; return nil }
func (o *lines) Sync() error                     { return nil }
func (o *lines) Close(ctx context.Context) error { return nil }

func ExampleOutput() {
	out := &lines{}
	l, _ := audit.New(audit.Config{Output: out, HeartbeatInterval: -1})
	l.Record(context.Background(), audit.Event{Action: audit.ActionLogout})
	l.Close(context.Background())
	fmt.Println(out.n, "lines: the event and the heartbeat at Close")
	// Output: 2 lines: the event and the heartbeat at Close
}

func ExampleLogger_WritePrometheus() {
	l, _ := audit.New(audit.Config{Output: &lines{}, Source: "app:shop", HeartbeatInterval: -1})
	l.Record(context.Background(), audit.Event{Action: audit.ActionLogout})
	l.Flush(context.Background())
	var sb strings.Builder
	l.WritePrometheus(&sb)
	for _, line := range strings.Split(sb.String(), "\n") {
		if strings.HasPrefix(line, "kansa_sdk_written_total") || strings.HasPrefix(line, "kansa_sdk_dropped_total") {
			fmt.Println(strings.Replace(line, l.Stream(), "STREAM", 1))
		}
	}
	l.Close(context.Background())
	// Output:
	// kansa_sdk_written_total{source="app:shop",stream="STREAM"} 1
	// kansa_sdk_dropped_total{source="app:shop",stream="STREAM"} 0
}
