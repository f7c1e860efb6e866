package audit

import (
	"fmt"
	"io"
	"strconv"
)

// WritePrometheus writes the Logger's counters in Prometheus's text
// exposition format, labelled with the Logger's source and stream, for an
// application to serve on its own /metrics:
//
//	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) { auditLog.WritePrometheus(w) })
//
// Losses show as kansa_sdk_dropped_total (and kansa_sdk_spool_full_total
// for a Client); kansa_sdk_spool_bytes is what waits for kansa.
func (l *Logger) WritePrometheus(w io.Writer) error {
	s := l.Stats()
	labels := `{source=` + strconv.Quote(l.cfg.Source) + `,stream=` + strconv.Quote(l.stream) + `}`
	type metric struct {
		name, kind, help string
		v                uint64
	}
	ms := []metric{
		{"kansa_sdk_recorded_total", "counter", "Events queued by Record.", s.Recorded},
		{"kansa_sdk_written_total", "counter", "Events handed to the output.", s.Written},
		{"kansa_sdk_dropped_total", "counter", "Events lost: queue full, logger closed, or refused by the output.", s.Dropped},
		{"kansa_sdk_invalid_total", "counter", "Events refused by Record (no action).", s.Invalid},
		{"kansa_sdk_heartbeats_total", "counter", "Heartbeats written.", s.Heartbeats},
	}
	if _, ok := l.out.(interface{ Stats() OutputStats }); ok {
		o := s.Output
		ms = append(ms,
			metric{"kansa_sdk_sent_total", "counter", "Lines acknowledged by kansa (events and heartbeats).", o.Sent},
			metric{"kansa_sdk_rejected_total", "counter", "Events kansa refused as invalid.", o.Rejected},
			metric{"kansa_sdk_requests_total", "counter", "Requests made to kansa.", o.Attempts},
			metric{"kansa_sdk_request_failures_total", "counter", "Requests that failed and were retried.", o.Failures},
			metric{"kansa_sdk_spool_full_total", "counter", "Events refused because the spool was full.", o.SpoolFull},
			metric{"kansa_sdk_spool_bytes", "gauge", "Bytes spooled and not yet acknowledged.", uint64(max(o.SpoolBytes, 0))},
		)
	}
	for _, m := range ms {
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s%s %d\n", m.name, m.help, m.name, m.kind, m.name, labels, m.v); err != nil {
			return err
		}
	}
	return nil
}
