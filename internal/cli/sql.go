package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"

	"github.com/kansa-audit/kansa/internal/api"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/sqlq"
)

func runSQL(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("sql", stderr)
	var c common
	c.register(fs)
	format := fs.String("format", "table", "output `format`: table, json (one object per row, per line) or csv")
	timeout := fs.Duration("timeout", sqlq.DefaultTimeout, "stop the query after this `duration`")
	maxRows := fs.Int("max-rows", sqlq.DefaultMaxRows, "refuse a result of more than `N` rows")
	tenant := fs.String("tenant", "", "only these tenants' events (`LIST`, comma-separated; default all)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa sql [flags] SQL\n       kansa sql [flags] < FILE\n\nOne read-only query (DuckDB's SQL) over the events relation: every archived\nevent and those still in the WAL, one column per field (docs/sql.md):\n  kansa sql \"SELECT action, count(*) FROM events WHERE time > now() - INTERVAL 7 DAY GROUP BY 1\"\n\nFlags:")
		fs.PrintDefaults()
	}
	terms, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if !slices.Contains(sqlq.Formats, *format) {
		return &exitError{2, fmt.Errorf("--format %q: want table, json or csv", *format)}
	}
	if *maxRows <= 0 || *timeout <= 0 {
		return &exitError{2, errors.New("--max-rows and --timeout: want a positive value")}
	}
	text := strings.Join(terms, " ")
	if len(terms) == 0 || text == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return err
		}
		text = string(b)
	}
	if strings.TrimSpace(text) == "" {
		fs.Usage()
		return &exitError{2, errors.New("no SQL given")}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	var tenants []string
	if *tenant != "" {
		tenants = strings.Split(*tenant, ",")
	}
	if _, err := os.Stat(cfg.Data); err != nil {
		return fmt.Errorf("no kansa data directory at %s (pass --data DIR)", cfg.Data)
	}
	req := sqlq.Request{SQL: text, Tenants: tenants, Timeout: *timeout, MaxRows: *maxRows}
	n, err := node.Open(cfg, nil)
	if errors.Is(err, node.ErrLocked) {
		return sqlViaSocket(ctx, node.SocketPath(cfg.Data), req, *format, stdout)
	}
	if err != nil {
		return err
	}
	defer n.Shutdown(context.Background())
	res, err := n.SQL.Query(ctx, req)
	if err != nil {
		return sqlError(err)
	}
	return sqlq.Write(stdout, res, *format)
}

// sqlError makes the caller's mistakes exit with status 2 (usage), as
// bad flags do.
func sqlError(err error) error {
	if errors.Is(err, sqlq.ErrRefused) || errors.Is(err, sqlq.ErrInvalid) || errors.Is(err, sqlq.ErrTooManyRows) || errors.Is(err, sqlq.ErrTimeout) {
		return &exitError{2, err}
	}
	return err
}

func sqlViaSocket(ctx context.Context, sock string, req sqlq.Request, format string, stdout io.Writer) error {
	body, _ := json.Marshal(api.SQLBody{SQL: req.SQL, Tenants: req.Tenants, Timeout: req.Timeout.String(), MaxRows: req.MaxRows})
	hreq, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://kansa/v1/sql?"+url.Values{"format": {format}}.Encode(), bytes.NewReader(body))
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := askOwner(hreq, sock)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(stdout, resp.Body)
	return err
}
