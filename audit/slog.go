package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// NewSlogHandler returns a slog.Handler that adds the Scope of each
// record's context to the record — request_id, actor ("User:42"), ip,
// endpoint, caller, trace_id, whichever are set — and passes it to next.
// Application logs written with slog's *Context methods then carry the same
// request context as the audit events, so the two can be joined.
func NewSlogHandler(next slog.Handler) slog.Handler { return &scopeHandler{next: next} }

type scopeHandler struct{ next slog.Handler }

func (h *scopeHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *scopeHandler) Handle(ctx context.Context, r slog.Record) error {
	if f := frameFrom(ctx); f != nil {
		s := f.snapshot()
		add := func(k, v string) {
			if v != "" {
				r.AddAttrs(slog.String(k, v))
			}
		}
		add("request_id", s.RequestID)
		if !s.Actor.IsZero() {
			r.AddAttrs(slog.String("actor", s.Actor.Type+":"+s.Actor.ID))
		}
		add("ip", s.IP)
		add("endpoint", s.Endpoint)
		add("caller", s.Caller)
		add("trace_id", s.TraceID)
	}
	return h.next.Handle(ctx, r)
}

func (h *scopeHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &scopeHandler{next: h.next.WithAttrs(as)}
}

func (h *scopeHandler) WithGroup(name string) slog.Handler {
	return &scopeHandler{next: h.next.WithGroup(name)}
}

// SlogOutput is an Output that sends each event through a slog.Handler,
// for teams whose logs already flow through one: every event becomes a
// record with message "audit" at the configured level, the event's time,
// and one attribute per top-level field of the event (schema, id, action,
// actor, …; objects as raw JSON). With slog.NewJSONHandler, the line is a
// kansa event with two more keys (level, msg) that kansa keeps in meta, and
// kansa route still sends it to audit by its schema marker.
type SlogOutput struct {
	h     slog.Handler
	level slog.Level
}

// NewSlogOutput returns an Output writing events to h at level.
func NewSlogOutput(h slog.Handler, level slog.Level) *SlogOutput {
	return &SlogOutput{h: h, level: level}
}

// Write hands one event to the handler.
func (o *SlogOutput) Write(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return errors.New("audit: slog output: not a JSON object")
	}
	r := slog.NewRecord(time.Now(), o.level, "audit", 0)
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return fmt.Errorf("audit: slog output: %w", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("audit: slog output: %w", err)
		}
		k := kt.(string)
		if k == "time" {
			var ts string
			if json.Unmarshal(v, &ts) == nil {
				if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
					r.Time = t
				}
			}
			continue
		}
		var val slog.Value
		if len(v) > 0 && v[0] == '"' {
			var s string
			_ = json.Unmarshal(v, &s)
			val = slog.StringValue(s)
		} else {
			val = slog.AnyValue(v)
		}
		r.AddAttrs(slog.Attr{Key: k, Value: val})
	}
	return o.h.Handle(context.Background(), r)
}

// Sync does nothing: a slog.Handler has no sync.
func (o *SlogOutput) Sync() error { return nil }

// Close does nothing.
func (o *SlogOutput) Close(context.Context) error { return nil }

var _ Output = (*SlogOutput)(nil)
