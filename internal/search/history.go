package search

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// WriteHistory writes a timeline for people, newest first as given: one
// line per event with when, what, who, from where and through which
// endpoint or job, then the event's changes, one column a line, as
// "old → new" for an update and the value otherwise. showTarget adds the
// record to each line (an actor's history); an actor's history leaves out
// the actor.
func WriteHistory(w io.Writer, hits []Hit, showTarget, showActor bool) error {
	bw := bufio.NewWriter(w)
	for _, h := range hits {
		e := h.Event
		fmt.Fprintf(bw, "%s  %s", e.Time.Format("2006-01-02 15:04:05.000 -07:00"), Cell(e.Action))
		if e.Outcome == event.OutcomeFailure {
			bw.WriteString(" (failed)")
		}
		if showTarget {
			bw.WriteString("  " + targetText(e))
		}
		if showActor {
			who := "system"
			if a := e.Actor; a != nil {
				who = event.Ref{Type: a.Type, ID: a.ID}.String()
				if a.Name != "" {
					who += " (" + Cell(a.Name) + ")"
				}
			}
			bw.WriteString("  by " + who)
		}
		c := &e.Context
		if c.IP != "" {
			bw.WriteString("  from " + Cell(c.IP))
		}
		switch {
		case c.Endpoint != "":
			bw.WriteString("  via " + Cell(c.Endpoint))
		case c.Caller != "":
			bw.WriteString("  in " + Cell(c.Caller))
		}
		if c.RequestID != "" {
			bw.WriteString("  request " + Cell(c.RequestID))
		}
		bw.WriteByte('\n')
		writeChanges(bw, e.Changes)
	}
	return bw.Flush()
}

func targetText(e *event.Event) string {
	switch {
	case e.Target == nil:
		return "-"
	case e.Target.ID == "":
		return e.Target.Type
	}
	return event.Ref{Type: e.Target.Type, ID: e.Target.ID}.String()
}

// writeChanges writes {col: [old, new]} as "col: old → new" and
// {col: value} as "col: value", indented; values as JSON.
func writeChanges(w *bufio.Writer, changes []byte) {
	if len(changes) == 0 {
		return
	}
	fields, err := rawjson.ObjectFields(nil, changes)
	if err != nil {
		fmt.Fprintf(w, "    %s\n", Cell(string(changes)))
		return
	}
	for _, f := range fields {
		name := Cell(string(f.Key))
		var pair [][]byte
		if rawjson.KindOf(f.Value) == rawjson.Array {
			rawjson.Elements(f.Value, func(_ int, v []byte) error {
				pair = append(pair, v)
				return nil
			})
		}
		if len(pair) == 2 {
			fmt.Fprintf(w, "    %s: %s → %s\n", name, value(pair[0]), value(pair[1]))
		} else {
			fmt.Fprintf(w, "    %s: %s\n", name, value(f.Value))
		}
	}
}

// value shows a JSON value on one line; a string loses its quotes when it
// cannot be mistaken for another value (a number, null, true, false) and
// has no spaces, quotes or arrows.
func value(v []byte) string {
	if rawjson.KindOf(v) == rawjson.String {
		s, err := rawjson.Text(v)
		if err == nil && s != "" && s != "null" && s != "true" && s != "false" &&
			!strings.ContainsAny(s[:1], "-0123456789") && !strings.ContainsAny(s, " →\"") {
			return Cell(s)
		}
	}
	return Cell(string(v))
}
