package otelaudit_test

import (
	"context"
	"fmt"

	"github.com/kansa-audit/kansa/audit/otelaudit"
	"go.opentelemetry.io/otel/trace"
)

func ExampleTraceID() {
	// A span context as a propagator extracts it from the incoming header
	// traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    tid,
		SpanID:     sid,
		TraceFlags: trace.FlagsSampled,
	}))

	fmt.Printf("%q\n", otelaudit.TraceID(ctx))
	fmt.Printf("%q\n", otelaudit.TraceID(context.Background()))

	// In an application, plug it into the Logger:
	//
	//	log, err := audit.New(audit.Config{Output: audit.Stdout(), TraceID: otelaudit.TraceID})

	// Output:
	// "4bf92f3577b34da6a3ce929d0e0e4736"
	// ""
}
