package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/sqlq"
)

// SQLBody is the body of POST /v1/sql.
type SQLBody struct {
	SQL string `json:"sql"`
	// Tenants restricts the events relation to these tenants' events.
	Tenants []string `json:"tenants,omitempty"`
	Timeout string   `json:"timeout,omitempty"` // a duration, "30s"; default sqlq.DefaultTimeout
	MaxRows int      `json:"max_rows,omitempty"`
}

// maxSQLBody bounds the body of POST /v1/sql.
const maxSQLBody = 1 << 20

// serveSQL answers POST /v1/sql?format=json|csv|table. Errors are JSON
// {"error": …}: 400 for a query DuckDB cannot run, 403 for one that is not
// a single read-only query, 422 for a result over max_rows, 504 when it
// runs past its timeout, 501 in a build without DuckDB.
func serveSQL(w http.ResponseWriter, r *http.Request, n *node.Node) {
	format := r.URL.Query().Get("format")
	if format == "" {
		format = "json"
	}
	if !slices.Contains(sqlq.Formats, format) {
		httpError(w, http.StatusBadRequest, "format: want json, csv or table")
		return
	}
	var body SQLBody
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxSQLBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		httpError(w, http.StatusBadRequest, `body: want {"sql": "SELECT …", "tenants": [...], "timeout": "30s", "max_rows": N}: `+err.Error())
		return
	}
	req := sqlq.Request{SQL: body.SQL, Tenants: body.Tenants, MaxRows: body.MaxRows}
	if body.Timeout != "" {
		d, err := time.ParseDuration(body.Timeout)
		if err != nil || d <= 0 {
			httpError(w, http.StatusBadRequest, "timeout: want a positive duration such as 30s")
			return
		}
		req.Timeout = d
	}
	if req.MaxRows < 0 {
		httpError(w, http.StatusBadRequest, "max_rows: want a positive number")
		return
	}
	res, err := n.SQL.Query(r.Context(), req)
	if err != nil {
		code := http.StatusInternalServerError
		switch {
		case errors.Is(err, sqlq.ErrInvalid):
			code = http.StatusBadRequest
		case errors.Is(err, sqlq.ErrRefused):
			code = http.StatusForbidden
		case errors.Is(err, sqlq.ErrTooManyRows):
			code = http.StatusUnprocessableEntity
		case errors.Is(err, sqlq.ErrTimeout):
			code = http.StatusGatewayTimeout
		case errors.Is(err, sqlq.ErrNoCgo):
			code = http.StatusNotImplemented
		}
		httpError(w, code, err.Error())
		return
	}
	switch format {
	case "json":
		w.Header().Set("Content-Type", "application/x-ndjson")
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	}
	sqlq.Write(w, res, format)
}
