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

	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/reconcile"
)

func runReconcile(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("reconcile", stderr)
	var c common
	c.register(fs)
	since := fs.String("since", "", "first `day` reported, YYYY-MM-DD (UTC)")
	until := fs.String("until", "", "last `day` reported, YYYY-MM-DD (UTC)")
	format := fs.String("format", "table", "output: table or json")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa reconcile [flags]\n\nPer source and day: records received, archived, sent to the error output,\ndropped under wal.when_full: drop, and still in the WAL; per producer\nstream (seq): the numbers missing, including a stream that stopped short\nof its last heartbeat. Exits 0 when nothing is missing or dropped, 1\notherwise.\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
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
	var rep *reconcile.Report
	n, err := node.Open(cfg, nil)
	switch {
	case errors.Is(err, node.ErrLocked):
		v := url.Values{"since": {*since}, "until": {*until}}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://kansa/v1/reconcile?"+v.Encode(), nil)
		resp, err := askOwner(req, node.SocketPath(cfg.Data))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		rep = new(reconcile.Report)
		if err := json.NewDecoder(resp.Body).Decode(rep); err != nil {
			return fmt.Errorf("server: %w", err)
		}
	case err != nil:
		return err
	default:
		defer n.Shutdown(context.Background())
		if rep, err = n.Reconcile(ctx, from, to); err != nil {
			return err
		}
	}
	if *format == "json" {
		if err := json.NewEncoder(stdout).Encode(rep); err != nil {
			return err
		}
	} else {
		writeReconcile(stdout, rep)
	}
	if !rep.OK() {
		return &exitError{1, nil}
	}
	return nil
}

func writeReconcile(w io.Writer, rep *reconcile.Report) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "SOURCE\tDAY\tRECEIVED\tARCHIVED\tERRORS\tDROPPED\tPENDING\t")
	for _, r := range append(rep.Rows, rep.Total) {
		src, day := r.Source, r.Day
		if src == "" && day == "" {
			src, day = "total", ""
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t\n", src, day, r.Received, r.Archived, r.Errors, r.Dropped, r.Pending)
	}
	tw.Flush()
	if len(rep.Streams) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STREAM\tSOURCE\tNUMBERS\tHEARTBEAT\tMISSING\tGAPS")
		for _, s := range rep.Streams {
			var gaps []string
			for _, g := range s.Gaps {
				if g[0] == g[1] {
					gaps = append(gaps, fmt.Sprint(g[0]))
				} else {
					gaps = append(gaps, fmt.Sprintf("%d-%d", g[0], g[1]))
				}
			}
			if s.Missing > 0 && len(s.Gaps) == reconcile.MaxGaps {
				gaps = append(gaps, "…")
			}
			if s.ShortOfHeartbeat {
				gaps = append(gaps, "(stopped short of its heartbeat)")
			}
			hb := "-"
			if s.Heartbeat > 0 {
				hb = fmt.Sprint(s.Heartbeat)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d-%d (%d)\t%s\t%d\t%s\n", s.Stream, s.Source, s.First, s.Last, s.Count, hb, s.Missing, strings.Join(gaps, " "))
		}
		tw.Flush()
	}
	for _, wr := range rep.Writers {
		if wr.Missing > 0 {
			var gaps []string
			for _, g := range wr.Gaps {
				gaps = append(gaps, fmt.Sprintf("%d-%d", g[0], g[1]))
			}
			fmt.Fprintf(w, "\nwriter %s: %d WAL records in no batch (%s): lost between the WAL and the archive\n", wr.Writer, wr.Missing, strings.Join(gaps, " "))
		}
	}
	if !rep.PendingKnown {
		fmt.Fprintln(w, "\nnote: the WAL tail was not read; pending is unknown")
	}
	verdict := "OK: nothing missing, nothing dropped"
	if !rep.OK() {
		verdict = "NOT OK: records are missing or were dropped (see above)"
	}
	fmt.Fprintln(w, "\n"+verdict)
}
