// Package api is kansa's HTTP API: ingest, search, health and metrics. The
// same handler serves the TCP listener and the data directory's Unix socket,
// through which local commands talk to a running server.
//
//	POST /v1/events         ingest (package httpin)
//	GET  /v1/events?q=…     search: q in the query language, limit (default
//	                        100, 0 = all), format json (NDJSON, default) or table
//	GET  /v1/history?target=TYPE:ID (or actor=TYPE:ID)
//	                        a record's (an actor's) events, newest first: limit
//	                        (default 100), cursor (from the Kansa-Next-Cursor
//	                        header of the previous page), format json or table
//	GET  /v1/counts?by=action|source|user_agent|actor|outcome[&tenant=T][&since=DAY][&until=DAY]
//	GET  /v1/reconcile[?since=DAY][&until=DAY]
//	                        events per UTC day by one dimension, from the index's
//	                        counters: JSON lines {"day","value","count"}
//	GET  /healthz           200 {"status":"ok",…} while the node runs
//	GET  /metrics           Prometheus text format
package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/input/httpin"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/query"
	"github.com/kansa-audit/kansa/internal/search"
)

// DefaultLimit is how many events a search returns when it names no limit.
const DefaultLimit = 100

// New returns the API handler for a node.
func New(n *node.Node) http.Handler {
	mux := http.NewServeMux()
	ingest := httpin.New(httpin.Config{MaxBodyBytes: int64(n.Config.Server.MaxBodyBytes), Source: n.Config.Server.Source, Tenant: n.Config.Tenant}, n.Ingest)
	mux.Handle("POST /v1/events", ingest)
	addReads(mux, n)
	addOps(mux, n)
	return mux
}

// addReads adds what reads events: search, history, counts and SQL.
func addReads(mux *http.ServeMux, n *node.Node) {
	loc, _ := archive.LoadLocation(n.Config.Search.TimeZone)
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) {
		serveSearch(w, r, n.Search, loc)
	})
	mux.HandleFunc("GET /v1/history", func(w http.ResponseWriter, r *http.Request) { serveHistory(w, r, n) })
	mux.HandleFunc("GET /v1/counts", func(w http.ResponseWriter, r *http.Request) { serveCounts(w, r, n) })
	mux.HandleFunc("POST /v1/sql", func(w http.ResponseWriter, r *http.Request) { serveSQL(w, r, n) })
	mux.HandleFunc("GET /v1/reconcile", func(w http.ResponseWriter, r *http.Request) { serveReconcile(w, r, n) })
}

// NextCursorHeader carries the cursor of a history's next page; absent on
// the last page.
const NextCursorHeader = "Kansa-Next-Cursor"

func serveHistory(w http.ResponseWriter, r *http.Request, n *node.Node) {
	params := r.URL.Query()
	target, actor := params.Get("target"), params.Get("actor")
	if (target == "") == (actor == "") {
		httpError(w, http.StatusBadRequest, "name one record as target=TYPE:ID or one actor as actor=TYPE:ID")
		return
	}
	ref, err := event.ParseRef(target + actor)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	limit := DefaultLimit
	if l := params.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 {
			httpError(w, http.StatusBadRequest, "limit: want a positive number")
			return
		}
	}
	format, ok := formatParam(w, params)
	if !ok {
		return
	}
	hits, next, err := n.History(r.Context(), ref, actor != "", limit, params.Get("cursor"))
	switch {
	case errors.Is(err, node.ErrNoCursor), errors.Is(err, index.ErrBadCursor):
		httpError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		httpError(w, http.StatusInternalServerError, "history: "+err.Error())
		return
	}
	if next != "" {
		w.Header().Set(NextCursorHeader, next)
	}
	if format == "table" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		search.WriteHistory(w, hits, actor != "", actor == "")
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	search.WriteJSON(w, hits)
}

// Sidecar returns the API of `kansa route`: search, history, counts, SQL,
// /healthz and /metrics, without ingest (a sidecar's events come from its
// stdin).
func Sidecar(n *node.Node) http.Handler {
	mux := http.NewServeMux()
	addReads(mux, n)
	addOps(mux, n)
	return mux
}

func addOps(mux *http.ServeMux, n *node.Node) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		indexed := ""
		if n.IndexBatcher != nil {
			indexed = fmt.Sprintf(`,"indexed_through":%d`, n.IndexBatcher.Delivered())
		}
		fmt.Fprintf(w, `{"status":"ok","writer":%q,"wal_last":%d,"wal_durable":%d,"archived_through":%d%s}`+"\n",
			n.WriterID, n.WAL.Last(), n.WAL.Synced(), n.Batcher.Delivered(), indexed)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		n.Metrics.WriteText(w)
	})
}

func serveSearch(w http.ResponseWriter, r *http.Request, s search.Searcher, loc *time.Location) {
	params := r.URL.Query()
	q, err := query.Parse(params.Get("q"), loc)
	if err != nil {
		httpError(w, http.StatusBadRequest, err.Error())
		return
	}
	q.Limit = DefaultLimit
	if l := params.Get("limit"); l != "" {
		if q.Limit, err = strconv.Atoi(l); err != nil || q.Limit < 0 {
			httpError(w, http.StatusBadRequest, "limit: want 0 (all) or a positive number")
			return
		}
	}
	format, ok := formatParam(w, params)
	if !ok {
		return
	}
	hits, err := s.Search(r.Context(), &q)
	if err != nil {
		httpError(w, http.StatusInternalServerError, "search: "+err.Error())
		return
	}
	if format == "table" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		search.WriteTable(w, hits)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	search.WriteJSON(w, hits)
}

// formatParam reads the format parameter: json (the default) or table. It
// answers 400 itself for anything else.
func formatParam(w http.ResponseWriter, params url.Values) (string, bool) {
	format := params.Get("format")
	if format == "" {
		format = "json"
	}
	if format != "json" && format != "table" {
		httpError(w, http.StatusBadRequest, "format: want json or table")
		return "", false
	}
	return format, true
}

func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, "{\"error\":%q}\n", msg)
}
