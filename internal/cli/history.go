package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/kansa-audit/kansa/internal/api"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/search"
)

func runHistory(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("history", stderr)
	var c common
	c.register(fs)
	format := fs.String("format", "table", "output `format`: table (a timeline with each change) or json (one event per line, as stored)")
	limit := fs.Int("limit", 100, "events per page, newest first")
	cursor := fs.String("cursor", "", "continue after the page that printed this `cursor`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa history [flags] TYPE:ID | actor:TYPE:ID\n\nA record's timeline (or everything one actor did), newest first: each change\nwith its diff, who made it, from where, through which endpoint or job.\n  kansa history Order:17\n  kansa history actor:User:42\n\nFlags:")
		fs.PrintDefaults()
	}
	terms, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(terms) != 1 {
		fs.Usage()
		return &exitError{2, errors.New("name one record (TYPE:ID) or one actor (actor:TYPE:ID)")}
	}
	if *format != "json" && *format != "table" {
		return &exitError{2, fmt.Errorf("--format %q: want json or table", *format)}
	}
	if *limit < 1 {
		return &exitError{2, errors.New("--limit: want a positive number")}
	}
	name, actor := terms[0], false
	if rest, ok := strings.CutPrefix(name, "actor:"); ok {
		name, actor = rest, true
	} else if rest, ok := strings.CutPrefix(name, "target:"); ok {
		name = rest
	}
	ref, err := event.ParseRef(name)
	if err != nil {
		return &exitError{2, err}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Data); err != nil {
		return fmt.Errorf("no kansa data directory at %s (pass --data DIR)", cfg.Data)
	}
	n, err := node.Open(cfg, nil)
	var next string
	switch {
	case errors.Is(err, node.ErrLocked):
		// A server owns the directory: ask it.
		if next, err = historyViaSocket(ctx, node.SocketPath(cfg.Data), ref, actor, *limit, *cursor, *format, stdout); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		defer n.Shutdown(context.Background())
		var hits []search.Hit
		if hits, next, err = n.History(ctx, ref, actor, *limit, *cursor); err != nil {
			return err
		}
		if *format == "json" {
			err = search.WriteJSON(stdout, hits)
		} else {
			err = search.WriteHistory(stdout, hits, actor, !actor)
		}
		if err != nil {
			return err
		}
		if n.Index == nil && len(hits) == *limit {
			fmt.Fprintln(stderr, "more may follow: paging needs the search index (index.enabled: true in the file given with --config; build it with kansa reindex)")
		}
	}
	if next != "" {
		fmt.Fprintf(stderr, "more: add --cursor %s\n", next)
	}
	return nil
}

func historyViaSocket(ctx context.Context, sock string, ref event.Ref, actor bool, limit int, cursor, format string, stdout io.Writer) (string, error) {
	v := url.Values{"limit": {strconv.Itoa(limit)}, "format": {format}}
	if actor {
		v.Set("actor", ref.String())
	} else {
		v.Set("target", ref.String())
	}
	if cursor != "" {
		v.Set("cursor", cursor)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://kansa/v1/history?"+v.Encode(), nil)
	resp, err := askOwner(req, sock)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	_, err = io.Copy(stdout, resp.Body)
	return resp.Header.Get(api.NextCursorHeader), err
}
