package otelaudit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/kansa-audit/kansa/audit"
	"github.com/kansa-audit/kansa/audit/otelaudit"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var w3cTraceID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func tracer(t testing.TB) trace.Tracer {
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp.Tracer("otelaudit_test")
}

func TestTraceIDOfSDKSpan(t *testing.T) {
	ctx, span := tracer(t).Start(context.Background(), "request")
	defer span.End()
	want := span.SpanContext().TraceID().String()
	if !w3cTraceID.MatchString(want) {
		t.Fatalf("the SDK's span has trace id %q, not 32 lowercase hex digits", want)
	}
	if got := otelaudit.TraceID(ctx); got != want {
		t.Errorf("TraceID = %q, want %q", got, want)
	}

	// A child span shares the trace; a new root span does not.
	child, cs := tracer(t).Start(ctx, "query")
	defer cs.End()
	if got := otelaudit.TraceID(child); got != want {
		t.Errorf("TraceID of a child span = %q, want the parent's %q", got, want)
	}
	other, otherSpan := tracer(t).Start(context.Background(), "other")
	defer otherSpan.End()
	if got := otelaudit.TraceID(other); got == want || !w3cTraceID.MatchString(got) {
		t.Errorf("TraceID of an unrelated root span = %q (first trace %q)", got, want)
	}
}

func TestTraceIDWithoutValidSpan(t *testing.T) {
	tid := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	noopCtx, noopSpan := noop.NewTracerProvider().Tracer("t").Start(context.Background(), "x")
	defer noopSpan.End()
	for name, ctx := range map[string]context.Context{
		"background":        context.Background(),
		"nil":               nil,
		"no-op tracer span": noopCtx,
		"trace id without span id": trace.ContextWithSpanContext(context.Background(),
			trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid})),
	} {
		if got := otelaudit.TraceID(ctx); got != "" {
			t.Errorf("%s: TraceID = %q, want \"\"", name, got)
		}
	}
}

func TestTraceIDOfRemoteSpan(t *testing.T) {
	// What a propagator leaves in the context for an incoming traceparent.
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0: 0xff, 15: 0x01},
		SpanID:  trace.SpanID{7: 0x01},
		Remote:  true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	if got, want := otelaudit.TraceID(ctx), "ff000000000000000000000000000001"; got != want {
		t.Errorf("TraceID = %q, want %q", got, want)
	}
}

// The adapter as it is meant to be used: an audit Logger records an event in
// a traced context, and the line it writes carries the span's trace id,
// unless the scope brings its own.
func TestLoggerWritesTraceID(t *testing.T) {
	var buf bytes.Buffer
	log, err := audit.New(audit.Config{
		Output:            audit.NewWriterOutput(&buf),
		Source:            "app:otelaudit-test",
		HeartbeatInterval: -1,
		TraceID:           otelaudit.TraceID,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tracer(t).Start(context.Background(), "request")
	defer span.End()
	log.Record(ctx, audit.Event{Action: "secret.view", Target: audit.Target{Type: "Secret", ID: "1"}})
	log.Record(audit.WithScope(ctx, audit.Scope{TraceID: "from-scope"}),
		audit.Event{Action: "secret.view", Target: audit.Target{Type: "Secret", ID: "2"}})
	log.Record(context.Background(), audit.Event{Action: "secret.view", Target: audit.Target{Type: "Secret", ID: "3"}})
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{
		"1": span.SpanContext().TraceID().String(),
		"2": "from-scope",
		"3": "",
	}
	seen := 0
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var ev struct {
			Action  string
			Target  struct{ ID string }
			Context struct {
				TraceID string `json:"trace_id"`
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %q: %v", sc.Bytes(), err)
		}
		if ev.Action != "secret.view" {
			continue // heartbeat
		}
		seen++
		if w, ok := want[ev.Target.ID]; !ok || ev.Context.TraceID != w {
			t.Errorf("event for Secret:%s has trace_id %q, want %q", ev.Target.ID, ev.Context.TraceID, w)
		}
	}
	if seen != len(want) {
		t.Errorf("read %d events, want %d:\n%s", seen, len(want), buf.String())
	}
}

func BenchmarkTraceID(b *testing.B) {
	ctx, span := tracer(b).Start(context.Background(), "request")
	defer span.End()
	b.Run("span", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = otelaudit.TraceID(ctx)
		}
	})
	b.Run("none", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = otelaudit.TraceID(context.Background())
		}
	})
}

func TestTraceIDAllocs(t *testing.T) {
	ctx, span := tracer(t).Start(context.Background(), "request")
	defer span.End()
	if n := testing.AllocsPerRun(100, func() { _ = otelaudit.TraceID(ctx) }); n > 1 {
		t.Errorf("TraceID with a span allocates %v times, want at most 1", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = otelaudit.TraceID(context.Background()) }); n != 0 {
		t.Errorf("TraceID without a span allocates %v times, want 0", n)
	}
}
