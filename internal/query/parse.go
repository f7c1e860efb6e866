package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kansa-audit/kansa/internal/event"
)

// SyntaxError reports a query that Parse cannot read. Its message names the
// term at fault and says what to write instead; Offset and Term let a UI point
// at the term.
type SyntaxError struct {
	Offset int    // byte offset of the term in the query
	Term   string // the term as written, such as actr:User:1
	Msg    string
}

func (e *SyntaxError) Error() string { return e.Msg }

// qualifiers lists the qualifiers in canonical order, with an example of each
// for error messages.
var qualifiers = []struct{ name, example string }{
	{"actor", "actor:User:42"},
	{"actor_type", "actor_type:User"},
	{"action", "action:update"},
	{"target", "target:Order:17"},
	{"target_type", "target_type:Order"},
	{"source", "source:app:kakari"},
	{"tenant", "tenant:default"},
	{"request_id", "request_id:r-1"},
	{"outcome", "outcome:failure"},
	{"created", "created:>=2024-08-01"},
}

var validQualifiers = func() string {
	names := make([]string, len(qualifiers))
	for i, q := range qualifiers {
		names[i] = q.name
	}
	return strings.Join(names, ", ")
}()

// Parse reads a query in the language described in the package
// documentation. Dates and times without an offset are read in loc (UTC when
// loc is nil). The empty query (or one of only spaces) parses to the zero
// Query. Errors are *SyntaxError.
func Parse(s string, loc *time.Location) (Query, error) {
	if loc == nil {
		loc = time.UTC
	}
	var q Query
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if unicode.IsSpace(r) {
			i += n
			continue
		}
		end, err := termEnd(s, i)
		if err != nil {
			return Query{}, &SyntaxError{Offset: i, Term: s[i:], Msg: err.Error()}
		}
		if err := q.add(s[i:end], loc); err != nil {
			return Query{}, &SyntaxError{Offset: i, Term: s[i:end], Msg: err.Error()}
		}
		i = end
	}
	return q, nil
}

// termEnd returns the end of the term that starts at s[i]: the first space
// outside double quotes.
func termEnd(s string, i int) (int, error) {
	start := i
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case unicode.IsSpace(r):
			return i, nil
		case r == '"':
			j := quoteEnd(s, i)
			if j < 0 {
				return 0, fmt.Errorf("unterminated quote in %s (add the closing \")", s[start:])
			}
			i = j
		default:
			i += n
		}
	}
	return i, nil
}

// quoteEnd returns the index just after the quoted string that starts at
// s[i] == '"', or -1 if it is not closed. A backslash escapes the next byte,
// as in Go's quoted strings.
func quoteEnd(s string, i int) int {
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// add reads one term into q.
func (q *Query) add(term string, loc *time.Location) error {
	name, v, ok := strings.Cut(term, ":")
	if !ok || name == "" || strings.ContainsRune(name, '"') {
		return fmt.Errorf("free text %q is not supported yet: write qualifier:value terms; valid qualifiers: %s", term, validQualifiers)
	}
	example := ""
	for _, qu := range qualifiers {
		if qu.name == name {
			example = qu.example
		}
	}
	if example == "" {
		hint := ""
		if s := suggest(name); s != "" {
			hint = fmt.Sprintf(" (did you mean %s?)", s)
		}
		return fmt.Errorf("unknown qualifier %q%s; valid qualifiers: %s", name, hint, validQualifiers)
	}
	if v == "" {
		if name == "created" {
			// The shell may have taken ">=2024-08-01" as a redirection.
			return fmt.Errorf("%s: missing value, as in %s (quote it in a shell: '%s')", name, example, example)
		}
		return fmt.Errorf("%s: missing value, as in %s", name, example)
	}
	err := q.addValue(name, v, loc)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (q *Query) addValue(name, v string, loc *time.Location) error {
	switch name {
	case "actor", "target":
		r, err := parseRef(name, v)
		if err != nil {
			return err
		}
		if name == "actor" {
			q.Actors = append(q.Actors, r)
		} else {
			q.Targets = append(q.Targets, r)
		}
		return nil
	case "created":
		s, err := unquote(name, v)
		if err != nil {
			return err
		}
		return q.addCreated(s, loc)
	}
	s, err := unquote(name, v)
	if err != nil {
		return err
	}
	switch name {
	case "actor_type":
		q.ActorTypes = append(q.ActorTypes, s)
	case "target_type":
		q.TargetTypes = append(q.TargetTypes, s)
	case "action":
		if i := strings.IndexByte(s, '*'); i >= 0 && i != len(s)-1 {
			return errors.New("* is allowed only at the end, as a prefix: action:user.*")
		}
		s, _ = event.CanonicalAction(s)
		q.Actions = append(q.Actions, s)
	case "source":
		q.Sources = append(q.Sources, s)
	case "tenant":
		q.Tenants = append(q.Tenants, s)
	case "request_id":
		q.RequestIDs = append(q.RequestIDs, s)
	case "outcome":
		if s != event.OutcomeSuccess && s != event.OutcomeFailure {
			return fmt.Errorf("want %s or %s, got %q", event.OutcomeSuccess, event.OutcomeFailure, s)
		}
		if q.Outcome != "" && q.Outcome != s {
			return fmt.Errorf("given twice (%s and %s); leave it out to match both", q.Outcome, s)
		}
		q.Outcome = s
	}
	return nil
}

// unquote returns a value that is either bare or wholly in double quotes.
func unquote(name, v string) (string, error) {
	if v[0] != '"' {
		if strings.ContainsRune(v, '"') {
			return "", fmt.Errorf("quote the whole value, as in %s:\"a b\"", name)
		}
		return v, nil
	}
	if quoteEnd(v, 0) != len(v) {
		return "", fmt.Errorf("quote the whole value, as in %s:\"a b\"", name)
	}
	s, err := strconv.Unquote(v)
	if err != nil {
		return "", fmt.Errorf(`bad quoted value %s: inside quotes write \" for a quote and \\ for a backslash`, v)
	}
	if s == "" {
		return "", errors.New(`empty value ""`)
	}
	return s, nil
}

// parseRef reads TYPE:ID with event.ParseRef, and holds it to what String
// can write back: only the id quoted, no quotes or spaces in the type.
func parseRef(name, v string) (event.Ref, error) {
	quoteOnlyID := fmt.Errorf(`quote only the id, as in %s:Type:"a b"`, name)
	if v[0] == '"' {
		return event.Ref{}, quoteOnlyID
	}
	r, err := event.ParseRef(v)
	if err != nil {
		return event.Ref{}, err
	}
	if strings.ContainsFunc(r.Type, func(c rune) bool { return c == '"' || unicode.IsSpace(c) }) {
		return event.Ref{}, quoteOnlyID
	}
	quoted := strings.HasSuffix(v, `"`)
	if !quoted && strings.ContainsRune(r.ID, '"') {
		return event.Ref{}, quoteOnlyID
	}
	if r.ID == "" {
		return event.Ref{}, fmt.Errorf("missing id in %s, as in %s:%s:42", v, name, r.Type)
	}
	return r, nil
}

// suggest returns the qualifier closest to a mistyped name, or "".
func suggest(name string) string {
	best, bestD := "", 3 // suggest only within two edits
	lower := strings.ToLower(name)
	for _, q := range qualifiers {
		if d := editDistance(lower, q.name); d < bestD {
			best, bestD = q.name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	if len(a) > 64 {
		return len(a) // no qualifier is that long
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
