//go:build cgo

package sqlq

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/kansa-audit/kansa/internal/ddl"
)

// Query runs req over the events relation (package doc).
func (e *Engine) Query(ctx context.Context, req Request) (*Result, error) {
	text := strings.TrimSpace(req.SQL)
	for strings.HasSuffix(text, ";") {
		text = strings.TrimSpace(strings.TrimSuffix(text, ";"))
	}
	if text == "" {
		return nil, fmt.Errorf("%w: no SQL", ErrRefused)
	}
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	if req.MaxRows <= 0 {
		req.MaxRows = DefaultMaxRows
	}
	qctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	res, err := e.query(qctx, text, req)
	if err != nil && errors.Is(qctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
		return nil, fmt.Errorf("%w after %s (raise it with --timeout, or narrow the query: a time range, a tenant)", ErrTimeout, req.Timeout)
	}
	return res, err
}

func (e *Engine) query(ctx context.Context, text string, req Request) (*Result, error) {
	s, err := e.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := s.restrict(req.Tenants); err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(s.files))
	for _, f := range s.files {
		paths = append(paths, f.Key)
	}
	slices.Sort(paths)
	view := ""
	if len(paths) > 0 {
		view = "SELECT * FROM " + ddl.DuckDBScan(paths, s.parts, " ")
	} else {
		// No files: the columns, no rows.
		if s.tmp == "" {
			if s.tmp, err = mkdirTemp(e.TempDir); err != nil {
				return nil, err
			}
		}
		empty, err := emptyParquet(s.tmp)
		if err != nil {
			return nil, err
		}
		paths = []string{empty}
		var cols []string
		for _, p := range s.parts {
			cols = append(cols, fmt.Sprintf("CAST(NULL AS %s) AS %s", ddl.DuckDBType(p), quoteIdent(p.Name)))
		}
		view = "SELECT *" + strings.Join(append([]string{""}, cols...), ", ") + " FROM read_parquet(" + quoteString(empty) + ")"
	}

	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, err
	}
	defer connector.Close()
	db := sql.OpenDB(connector)
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close()

	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = quoteString(p)
	}
	setup := []string{
		"SET allowed_paths = [" + strings.Join(quoted, ", ") + "]",
		"SET temp_directory = ''",
		"SET TimeZone = 'UTC'",
		"SET enable_external_access = false",
		"SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false",
		"SET allow_community_extensions = false",
		"SET parquet_metadata_cache = true", // footers read once per query, not per prepare
		"CREATE VIEW events AS " + view,
		"SET lock_configuration = true",
	}
	for _, st := range setup {
		if _, err := conn.ExecContext(ctx, st); err != nil {
			return nil, fmt.Errorf("sql: setting up the sandbox (%s): %w", firstWord(st, 3), err)
		}
	}

	// One statement, a query. The text run stops at MaxRows+1 rows; when
	// it does not prepare (DESCRIBE, SHOW, PIVOT … cannot be a subquery,
	// and neither can a text that is not a query), the caller's text is
	// checked and run as it is, and read up to MaxRows+1 rows. Each check
	// prepares (binds the view: reads the files' footers), so the usual
	// path checks once.
	if err := checkWord(text); err != nil {
		return nil, err
	}
	run := "SELECT * FROM (\n" + text + "\n) LIMIT " + fmt.Sprint(req.MaxRows+1)
	if checkSelect(conn, run) != nil {
		if err := checkSelect(conn, text); err != nil {
			return nil, err
		}
		run = text
	}
	rows, err := conn.QueryContext(ctx, run)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	defer rows.Close()
	cols, err := rows.ColumnTypes()
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for _, c := range cols {
		res.Columns = append(res.Columns, c.Name())
		res.Types = append(res.Types, c.DatabaseTypeName())
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if len(res.Rows) == req.MaxRows {
			return nil, fmt.Errorf("%w: more than %d (add a LIMIT, aggregate, or raise --max-rows)", ErrTooManyRows, req.MaxRows)
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = normalize(v, res.Types[i])
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return res, nil
}

// checkWord refuses a text that does not start as a query does, without
// asking DuckDB.
func checkWord(text string) error {
	if w := leadingWord(text); !queryWords[w] {
		if !statementWords[w] {
			return fmt.Errorf("%w: syntax error at or near %q: a query starts with SELECT, WITH, FROM, VALUES, DESCRIBE, SUMMARIZE, SHOW or PIVOT", ErrInvalid, firstWord(strings.TrimLeft(text, " \t\r\n("), 1))
		}
		return fmt.Errorf("%w: only queries (SELECT, WITH, FROM, VALUES, DESCRIBE, SUMMARIZE, SHOW, PIVOT) are allowed; this is %s", ErrRefused, stmtName(w))
	}
	return nil
}

// checkSelect prepares text without running anything: it must be exactly
// one statement, of the SELECT type.
func checkSelect(conn *sql.Conn, text string) error {
	if err := checkWord(text); err != nil {
		return err
	}
	return conn.Raw(func(dc any) error {
		c, ok := dc.(*duckdb.Conn)
		if !ok {
			return fmt.Errorf("sql: unexpected driver connection %T", dc)
		}
		// Prepare, unlike PrepareContext, runs no statement before the
		// last when the text holds several: it refuses them.
		st, err := c.Prepare(text)
		if err != nil {
			if strings.Contains(err.Error(), "context") || strings.Contains(err.Error(), "multiple") {
				return fmt.Errorf("%w: one statement at a time", ErrRefused)
			}
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		defer st.Close()
		t, err := st.(*duckdb.Stmt).StatementType()
		if err != nil {
			return err
		}
		if t != duckdb.STATEMENT_TYPE_SELECT {
			return fmt.Errorf("%w: only queries (SELECT, WITH, FROM, VALUES, DESCRIBE, SUMMARIZE, SHOW, PIVOT) are allowed; this is %s", ErrRefused, stmtName(leadingWord(text)))
		}
		return nil
	})
}

func stmtName(w string) string {
	if w == "" {
		return "not a query"
	}
	return "a " + w + " statement"
}

// queryWords are the words a query may start with.
var queryWords = map[string]bool{"SELECT": true, "WITH": true, "FROM": true, "VALUES": true, "DESCRIBE": true,
	"SUMMARIZE": true, "SHOW": true, "PIVOT": true, "UNPIVOT": true, "TABLE": true}

// statementWords start DuckDB's statements that are not queries.
var statementWords = map[string]bool{"CREATE": true, "INSERT": true, "UPDATE": true, "DELETE": true, "DROP": true,
	"ALTER": true, "COPY": true, "ATTACH": true, "DETACH": true, "SET": true, "RESET": true, "PRAGMA": true,
	"CALL": true, "EXPLAIN": true, "INSTALL": true, "FORCE": true, "LOAD": true, "USE": true, "EXPORT": true,
	"IMPORT": true, "VACUUM": true, "CHECKPOINT": true, "BEGIN": true, "START": true, "COMMIT": true, "END": true,
	"ROLLBACK": true, "ABORT": true, "ANALYZE": true, "PREPARE": true, "EXECUTE": true, "DEALLOCATE": true,
	"MERGE": true, "TRUNCATE": true, "COMMENT": true, "UPSERT": true, "REPLACE": true}

// leadingWord is the first keyword of text, upper-cased, after blanks,
// comments and opening parentheses.
func leadingWord(text string) string {
	s := text
	for {
		s = strings.TrimLeft(s, " \t\r\n(")
		switch {
		case strings.HasPrefix(s, "--"):
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return ""
			}
			s = s[i+1:]
		case strings.HasPrefix(s, "/*"):
			i := strings.Index(s, "*/")
			if i < 0 {
				return ""
			}
			s = s[i+2:]
		default:
			end := strings.IndexFunc(s, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_')
			})
			if end < 0 {
				end = len(s)
			}
			return strings.ToUpper(s[:end])
		}
	}
}

func firstWord(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}

func quoteString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
