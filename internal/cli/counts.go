package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/search"
)

func runCounts(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("counts", stderr)
	var c common
	c.register(fs)
	by := fs.String("by", "action", "count by `dimension`: action, source, user_agent, actor or outcome")
	tenant := fs.String("tenant", "", "one tenant's events (default: every tenant's)")
	since := fs.String("since", "", "first `day` counted, YYYY-MM-DD (UTC)")
	until := fs.String("until", "", "last `day` counted, YYYY-MM-DD (UTC)")
	format := fs.String("format", "table", "output `format`: table or json (one {day, value, count} per line)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa counts [flags]\n\nEvents per day by action, source, user agent, actor or outcome, from the\nsearch index's counters (index.enabled):\n  kansa counts --by action --since 2024-08-01\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return &exitError{2, errors.New("kansa counts takes flags only")}
	}
	dim, ok := index.Dims[*by]
	if !ok {
		return &exitError{2, fmt.Errorf("--by %q: want action, source, user_agent, actor or outcome", *by)}
	}
	if *format != "table" && *format != "json" {
		return &exitError{2, fmt.Errorf("--format %q: want table or json", *format)}
	}
	from, to, err := parseDays(*since, *until)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Data); err != nil {
		return fmt.Errorf("no kansa data directory at %s (pass --data DIR)", cfg.Data)
	}
	var counts []index.Count
	n, err := node.Open(cfg, nil)
	switch {
	case errors.Is(err, node.ErrLocked):
		v := url.Values{"by": {*by}, "tenant": {*tenant}, "since": {*since}, "until": {*until}}
		if counts, err = countsViaSocket(ctx, node.SocketPath(cfg.Data), v); err != nil {
			return err
		}
	case err != nil:
		return err
	default:
		defer n.Shutdown(context.Background())
		if counts, err = n.Counts(ctx, *tenant, dim, from, to); err != nil {
			return err
		}
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		for _, c := range counts {
			enc.Encode(countJSON{c.Day.Format("2006-01-02"), c.Value, c.N})
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "DAY\t%s\tCOUNT\n", strings.ToUpper(*by))
	for _, c := range counts {
		fmt.Fprintf(tw, "%s\t%s\t%d\n", c.Day.Format("2006-01-02"), search.Cell(c.Value), c.N)
	}
	return tw.Flush()
}

type countJSON struct {
	Day   string `json:"day"`
	Value string `json:"value"`
	Count uint64 `json:"count"`
}

func countsViaSocket(ctx context.Context, sock string, v url.Values) ([]index.Count, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://kansa/v1/counts?"+v.Encode(), nil)
	resp, err := askOwner(req, sock)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []index.Count
	dec := json.NewDecoder(resp.Body)
	for dec.More() {
		var c countJSON
		if err := dec.Decode(&c); err != nil {
			return nil, err
		}
		day, _ := time.Parse("2006-01-02", c.Day)
		out = append(out, index.Count{Day: day, Value: c.Value, N: c.Count})
	}
	return out, nil
}
