// Package otelaudit connects the kansa audit SDK to OpenTelemetry tracing:
// every audit event recorded inside a traced request carries that request's
// trace id as context.trace_id, so an investigator can go from an audit event
// to the trace of the request that caused it.
//
// # Wiring
//
// Plug TraceID into the Logger's configuration:
//
//	log, err := audit.New(audit.Config{
//		Output:  audit.Stdout(),
//		TraceID: otelaudit.TraceID,
//	})
//
// The Logger asks TraceID at Record, with the context passed to Record, and
// only when the event's scope has no trace id of its own (a scope's trace
// id, set by audit.WithScope, wins). Nothing else is needed: whatever puts
// the span in the context — otelhttp's handler, a tracer's Start, a
// propagator's Extract of an incoming traceparent header — is what the
// audit event sees. So record with the context the span lives in (the
// request's r.Context() inside the traced handler, or one derived from it).
//
// # What is written
//
// The W3C trace id: 32 lowercase hex digits, as in a traceparent header and
// as every OpenTelemetry backend shows it. A context with no span, or with a
// span context that is not valid (a zero trace or span id, as a no-op
// tracer makes), gives "" and the event is written without a trace id.
//
// # Cost
//
// TraceID runs on the caller's goroutine inside Record, so it is kept small:
// one context lookup and one 32-byte string allocation when there is a
// span, none when there is not. It is safe for concurrent use.
//
// # Dependencies
//
// This package is its own Go module so that an application using the audit
// SDK without OpenTelemetry inherits none of it. It needs only
// go.opentelemetry.io/otel/trace (the API, not the SDK); the OpenTelemetry
// SDK is a test dependency here.
package otelaudit
