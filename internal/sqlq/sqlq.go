package sqlq

import (
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/kansa-audit/kansa/internal/search"
)

// Defaults of a Request.
const (
	DefaultTimeout = 30 * time.Second
	DefaultMaxRows = 10000
)

// Errors a query can end with; each wraps the details.
var (
	// ErrRefused: not one read-only statement, or a tenant restriction
	// the archive's layout cannot enforce.
	ErrRefused = errors.New("refused")
	// ErrInvalid: DuckDB could not run the query (syntax, an unknown
	// column, a failed cast…); its message says why.
	ErrInvalid = errors.New("invalid query")
	// ErrTimeout: the query ran longer than Request.Timeout.
	ErrTimeout = errors.New("query timed out")
	// ErrTooManyRows: the result has more than Request.MaxRows rows.
	ErrTooManyRows = errors.New("too many rows")
	// ErrNoCgo: this kansa was built without cgo, so without DuckDB.
	ErrNoCgo = errors.New("kansa sql needs DuckDB, which this build (CGO_ENABLED=0) does not have")
)

// Request is one query.
type Request struct {
	SQL string
	// Tenants restricts the events relation to these tenants' events;
	// empty for all of them.
	Tenants []string
	Timeout time.Duration // default DefaultTimeout
	MaxRows int           // default DefaultMaxRows
}

// Result is a query's answer. Values are nil, bool, int64, float64,
// string, or []any and map[string]any of those (DuckDB's lists and
// structs); times are RFC 3339 strings in UTC, dates YYYY-MM-DD, integers
// beyond 64 bits and decimals their decimal text, blobs base64.
type Result struct {
	Columns []string
	Types   []string // DuckDB's type names
	Rows    [][]any
}

// Formats are the output formats of Write.
var Formats = []string{"json", "csv", "table"}

// Write writes res as format: json (one object per row, one per line, the
// columns in order), csv (a header row, then the rows; lists and structs
// as JSON) or table (aligned columns for a terminal).
func Write(w io.Writer, res *Result, format string) error {
	switch format {
	case "json":
		var b []byte
		for _, row := range res.Rows {
			b = append(b[:0], '{')
			for i, v := range row {
				if i > 0 {
					b = append(b, ',')
				}
				k, _ := json.Marshal(res.Columns[i])
				b = append(b, k...)
				b = append(b, ':')
				j, err := json.Marshal(v)
				if err != nil {
					return err
				}
				b = append(b, j...)
			}
			b = append(b, '}', '\n')
			if _, err := w.Write(b); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(res.Columns); err != nil {
			return err
		}
		rec := make([]string, len(res.Columns))
		for _, row := range res.Rows {
			for i, v := range row {
				rec[i] = text(v)
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
		cw.Flush()
		return cw.Error()
	case "table":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for i, c := range res.Columns {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, search.Cell(c))
		}
		io.WriteString(tw, "\n")
		for _, row := range res.Rows {
			for i, v := range row {
				if i > 0 {
					io.WriteString(tw, "\t")
				}
				if v == nil {
					io.WriteString(tw, "NULL")
					continue
				}
				io.WriteString(tw, search.Cell(text(v)))
			}
			io.WriteString(tw, "\n")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		rows := "rows"
		if len(res.Rows) == 1 {
			rows = "row"
		}
		_, err := fmt.Fprintf(w, "(%d %s)\n", len(res.Rows), rows)
		return err
	}
	return fmt.Errorf("format %q: want %s", format, strings.Join(Formats, ", "))
}

// text is a value as one CSV field or table cell.
func text(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case []any, map[string]any:
		b, _ := json.Marshal(v)
		return string(b)
	}
	return fmt.Sprint(v)
}

// normalize turns what DuckDB's driver returns into Result's value kinds.
func normalize(v any, typ string) any {
	switch v := v.(type) {
	case nil, bool, int64, float64, string:
		return v
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint64:
		if v <= 1<<63-1 {
			return int64(v)
		}
		return json.Number(fmt.Sprint(v))
	case float32:
		return float64(v)
	case *big.Int:
		return json.Number(v.String())
	case time.Time:
		switch typ {
		case "DATE":
			return v.Format("2006-01-02")
		case "TIME":
			return v.Format("15:04:05.999999")
		}
		return v.UTC().Format(time.RFC3339Nano)
	case []byte:
		if utf8.Valid(v) && typ != "BLOB" {
			return string(v)
		}
		return base64.StdEncoding.EncodeToString(v)
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x, "")
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = normalize(x, "")
		}
		return out
	case fmt.Stringer:
		return v.String()
	}
	return fmt.Sprint(v)
}
