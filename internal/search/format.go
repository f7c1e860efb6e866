package search

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/kansa-audit/kansa/internal/event"
)

// WriteJSON writes one event per line, exactly as stored.
func WriteJSON(w io.Writer, hits []Hit) error {
	bw := bufio.NewWriter(w)
	for _, h := range hits {
		bw.Write(h.Raw)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// WriteTable writes a table for people: time in the event's own offset,
// action, actor, target, source and where from.
func WriteTable(w io.Writer, hits []Hit) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tACTOR\tTARGET\tSOURCE\tIP\tREQUEST\tOUTCOME")
	for _, h := range hits {
		e := h.Event
		actor, target := "-", "-"
		if e.Actor != nil {
			actor = event.Ref{Type: e.Actor.Type, ID: e.Actor.ID}.String()
		}
		if e.Target != nil && e.Target.ID == "" {
			target = e.Target.Type // rows not known one by one
		} else if e.Target != nil {
			target = event.Ref{Type: e.Target.Type, ID: e.Target.ID}.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Format("2006-01-02 15:04:05.000 -07:00"),
			Cell(e.Action), Cell(actor), Cell(target), Cell(e.Source), Cell(e.Context.IP), Cell(e.Context.RequestID), e.Outcome)
	}
	return tw.Flush()
}

// Cell keeps a value on one line of a table: "-" for empty, tabs and
// line breaks as spaces.
func Cell(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
