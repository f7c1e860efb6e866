package otelaudit

import (
	"context"
	"encoding/hex"

	"go.opentelemetry.io/otel/trace"
)

// TraceID returns the W3C trace id (32 lowercase hex digits) of the span in
// ctx, or "" when ctx holds no valid span context. It has the signature of
// audit.Config.TraceID and is meant to be plugged in there. It is safe for
// concurrent use; a nil ctx gives "".
func TraceID(ctx context.Context) string {
	if ctx == nil {
		return ""
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	id := sc.TraceID()
	var buf [2 * len(id)]byte
	hex.Encode(buf[:], id[:])
	return string(buf[:])
}
