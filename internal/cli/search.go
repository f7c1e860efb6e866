package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/query"
	"github.com/kansa-audit/kansa/internal/search"
)

func runSearch(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("search", stderr)
	var c common
	c.register(fs)
	format := fs.String("format", "table", "output `format`: json (one event per line, as stored) or table")
	limit := fs.Int("limit", 100, "at most `N` events, newest first; 0 means all")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa search [flags] [QUERY...]\n\nQUERY is qualifiers such as actor:User:42 action:update,delete target:Order:* 'created:>now-7d'\n-action:*.view (exclude), ip:10.0.0.0/8, request:ID, bare words (full text over changes and meta)\n(source:, tenant:, outcome:, actor_type:, target_type: too; docs/search.md).\nQuote terms with > < * or spaces for the shell.\n\nFlags:")
		fs.PrintDefaults()
	}
	terms, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if *format != "json" && *format != "table" {
		return &exitError{2, fmt.Errorf("--format %q: want json or table", *format)}
	}
	if *limit < 0 {
		return &exitError{2, errors.New("--limit: want 0 (all) or a positive number")}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	text := strings.Join(terms, " ")
	loc, _ := archive.LoadLocation(cfg.Search.TimeZone)
	q, err := query.Parse(text, loc)
	if err != nil {
		return &exitError{2, err}
	}
	q.Limit = *limit
	if _, err := os.Stat(cfg.Data); err != nil {
		return fmt.Errorf("no kansa data directory at %s (pass --data DIR)", cfg.Data)
	}
	n, err := node.Open(cfg, nil)
	if errors.Is(err, node.ErrLocked) {
		// A server owns the directory: ask it.
		return searchViaSocket(ctx, node.SocketPath(cfg.Data), text, *limit, *format, stdout)
	}
	if err != nil {
		return err
	}
	defer n.Shutdown(context.Background())
	hits, err := n.Search.Search(ctx, &q)
	if err != nil {
		return err
	}
	if *format == "json" {
		return search.WriteJSON(stdout, hits)
	}
	return search.WriteTable(stdout, hits)
}

// socketClient is an HTTP client for the API of the server that owns a
// data directory, over its Unix socket.
func socketClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// askOwner sends req to the server that owns the data directory, over its
// socket sock, and returns its 200 answer (the caller closes the body).
// Any other answer is an error with the server's message: a usage error
// (exit status 2) for what the request got wrong (4xx, and 504: a query's
// timeout).
func askOwner(req *http.Request, sock string) (*http.Response, error) {
	resp, err := socketClient(sock).Do(req)
	if err != nil {
		return nil, fmt.Errorf("the data directory is owned by a running kansa, but its socket %s does not answer: %w", sock, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var e struct{ Error string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" && (resp.StatusCode < 500 || resp.StatusCode == http.StatusGatewayTimeout) {
		return nil, &exitError{2, errors.New(e.Error)}
	}
	return nil, fmt.Errorf("server: %s: %s", resp.Status, strings.TrimSpace(string(b)))
}

func searchViaSocket(ctx context.Context, sock, q string, limit int, format string, stdout io.Writer) error {
	u := "http://kansa/v1/events?" + url.Values{"q": {q}, "limit": {strconv.Itoa(limit)}, "format": {format}}.Encode()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	resp, err := askOwner(req, sock)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(stdout, resp.Body)
	return err
}
