// Package httpin is the HTTP ingest input: POST /v1/events.
//
// The body is NDJSON (one event per line) or a JSON array of events,
// optionally gzip-encoded (Content-Encoding: gzip). Each event is in kansa's
// shape or AuditLoggable's. The answer comes only once every accepted event
// is fsync'd in the WAL:
//
//	200 {"accepted": N, "errors": [{"index": I, "error": "…"}]}
//
// A bad event never fails the good ones: it is listed in errors (index counts
// events from 0, blank NDJSON lines not counted) and also written to the
// error output. 413 means the request as a whole is over the size limit,
// 503 with Retry-After that the WAL is full because a sink is behind; in both
// cases nothing of the request was accepted.
package httpin

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/rawjson"
	"github.com/kansa-audit/kansa/internal/wal"
)

// Config of the input.
type Config struct {
	MaxBodyBytes int64  // after gzip decoding; 0 means 32 MiB
	Source       string // stamped on events without a source; "" means "http"
	Tenant       string // stamped on events without a tenant
	RetryAfter   time.Duration
}

// Handler serves POST /v1/events.
type Handler struct {
	cfg Config
	in  *node.Ingester
	now func() time.Time
}

// New returns the handler.
func New(cfg Config, in *node.Ingester) *Handler {
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = 32 << 20
	}
	if cfg.Source == "" {
		cfg.Source = "http"
	}
	if cfg.RetryAfter == 0 {
		cfg.RetryAfter = 5 * time.Second
	}
	return &Handler{cfg: cfg, in: in, now: time.Now}
}

type scratch struct {
	body bytes.Buffer
	recs []byte
	idx  []int    // end offsets of records in recs
	view [][]byte // recs cut at idx, for the WAL
	out  []byte
}

var pool = sync.Pool{New: func() any { return new(scratch) }}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "use POST")
		return
	}
	s := pool.Get().(*scratch)
	defer func() {
		if s.body.Cap() <= 4<<20 {
			pool.Put(s)
		}
	}()
	s.body.Reset()
	var src io.Reader = r.Body
	switch r.Header.Get("Content-Encoding") {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "gzip body: "+err.Error())
			return
		}
		src = zr
	default:
		writeError(w, http.StatusUnsupportedMediaType, "Content-Encoding must be gzip or absent")
		return
	}
	n, err := s.body.ReadFrom(io.LimitReader(src, h.cfg.MaxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, "read body: "+err.Error())
		return
	}
	if n > h.cfg.MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes (after decoding); split it into smaller requests", h.cfg.MaxBodyBytes))
		return
	}
	accepted, errs, err := h.ingest(r.Context(), s)
	switch {
	case errors.Is(err, wal.ErrFull):
		w.Header().Set("Retry-After", strconv.Itoa(int(h.cfg.RetryAfter.Seconds())))
		writeError(w, http.StatusServiceUnavailable, "kansa's WAL is full because its archive is behind; retry later")
		return
	case errors.Is(err, errBadArray):
		writeError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		if r.Context().Err() != nil {
			return // the client left; what was appended becomes durable anyway
		}
		writeError(w, http.StatusInternalServerError, "make events durable: "+err.Error())
		return
	}
	out := append(s.out[:0], `{"accepted":`...)
	out = strconv.AppendInt(out, int64(accepted), 10)
	out = append(out, `,"errors":[`...)
	for i, e := range errs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"index":`...)
		out = strconv.AppendInt(out, int64(e.index), 10)
		out = append(out, `,"error":`...)
		out = rawjson.AppendQuote(out, e.msg)
		out = append(out, '}')
	}
	out = append(out, "]}\n"...)
	s.out = out
	w.Header().Set("Content-Type", "application/json")
	w.Write(out)
}

type itemError struct {
	index int
	msg   string
}

var errBadArray = errors.New("body starts with [ but is not a valid JSON array; send a JSON array or NDJSON")

// ingest maps every item, appends events and rejects as one WAL group, and
// waits until they are durable.
func (h *Handler) ingest(ctx context.Context, s *scratch) (int, []itemError, error) {
	body := s.body.Bytes()
	now := h.now()
	s.recs, s.idx = s.recs[:0], s.idx[:0]
	var errs []itemError
	accepted := 0
	index := 0
	d := mapping.Defaults{Source: h.cfg.Source, Tenant: h.cfg.Tenant}
	one := func(item []byte) {
		e, err := mapping.Map(item, mapping.Auto, d)
		if err != nil {
			errs = append(errs, itemError{index, err.Error()})
			s.recs = h.in.AppendReject(s.recs, err, item, d.Source, d.Tenant, now)
		} else {
			s.recs = node.AppendEvent(s.recs, e, now)
			accepted++
		}
		s.idx = append(s.idx, len(s.recs))
		index++
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		arr, err := rawjson.Trim(trimmed)
		if err != nil {
			return 0, nil, fmt.Errorf("%w: %v", errBadArray, err)
		}
		rawjson.Elements(arr, func(_ int, v []byte) error { one(v); return nil })
	} else {
		for len(body) > 0 {
			line := body
			if i := bytes.IndexByte(body, '\n'); i >= 0 {
				line, body = body[:i], body[i+1:]
			} else {
				body = nil
			}
			line = bytes.TrimRight(line, "\r")
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			one(line)
		}
	}
	if len(s.idx) == 0 {
		return 0, errs, nil
	}
	s.view = s.view[:0]
	start := 0
	for _, end := range s.idx {
		s.view = append(s.view, s.recs[start:end])
		start = end
	}
	last, err := h.in.Append(ctx, s.view, node.Refuse)
	clear(s.view) // the pooled scratch should not pin this request's records
	if err != nil {
		return 0, nil, err
	}
	if err := h.in.Sync(ctx, last, accepted); err != nil {
		return 0, nil, err
	}
	return accepted, errs, nil
}

func writeError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	b := append([]byte(`{"error":`), rawjson.AppendQuote(nil, msg)...)
	w.Write(append(b, "}\n"...))
}
