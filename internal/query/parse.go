package query

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
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

// qualifiers lists the qualifiers in canonical order, with an example of
// each for error messages: of one value, and of several (OR).
var qualifiers = []struct{ name, example, several string }{
	{"actor", "actor:User:42", "actor:User:1,User:2"},
	{"actor_type", "actor_type:User", "actor_type:User,Admin::Account"},
	{"action", "action:update", "action:create,delete"},
	{"target", "target:Order:17", "target:Order:17,Order:18"},
	{"target_type", "target_type:Order", "target_type:Order,Invoice"},
	{"source", "source:app:kakari", "source:app:kakari,app:shop"},
	{"tenant", "tenant:default", "tenant:default,acme"},
	{"request_id", "request_id:r-1", "request_id:r-1,r-2"},
	{"ip", "ip:10.0.0.0/8", "ip:10.0.0.0/8,192.168.0.0/16"},
	{"outcome", "outcome:failure", ""},
	{"created", "created:>=2024-08-01", ""},
}

// aliases are other names for qualifiers.
var aliases = map[string]string{"request": "request_id"}

var validQualifiers = func() string {
	names := make([]string, len(qualifiers))
	for i, q := range qualifiers {
		names[i] = q.name
		for a, n := range aliases {
			if n == q.name {
				names[i] += " (or " + a + ")"
			}
		}
	}
	return strings.Join(names, ", ")
}()

// Parse reads a query in the language described in the package
// documentation. Dates and times without an offset are read in loc (UTC when
// loc is nil); relative times (now-7d) count back from the current time.
// The empty query (or one of only spaces) parses to the zero Query. Errors
// are *SyntaxError.
func Parse(s string, loc *time.Location) (Query, error) {
	return ParseAt(s, loc, time.Now())
}

// ParseAt is Parse with relative times counted back from now instead of the
// current time: created:>now-7d means the seven days before now. The Query
// holds the absolute times they resolve to.
func ParseAt(s string, loc *time.Location, now time.Time) (Query, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := parser{loc: loc, now: now}
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
		if err := p.term(s[i:end]); err != nil {
			return Query{}, &SyntaxError{Offset: i, Term: s[i:end], Msg: err.Error()}
		}
		i = end
	}
	return p.query(), nil
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

// parser collects the terms of a query.
type parser struct {
	loc *time.Location
	now time.Time
	q   Query // outcome, created and text, as they are read

	// The values of each field's terms, by index in fields: [0] holds
	// the values of field:... terms, [1] those of -field:... terms.
	groups [len(fields)][2][]value
}

// value is one value of a term, as read.
type value struct {
	pat   Pattern   // as a Filter holds it
	exact bool      // no wildcard: one part, or for ip an address or block
	ref   event.Ref // actor, target: the record, when exact
}

// query returns the Query of the terms read: each field's values go to its
// exact list when none has a wildcard, and otherwise all of them, exact or
// not, to one Filter, so that every list is a condition of its own (AND).
// Exclusions go to one Filter per field. Filters are in the order of fields,
// each field's values before its exclusions.
func (p *parser) query() Query {
	q := p.q
	for i, f := range fields {
		pos, neg := p.groups[i][0], p.groups[i][1]
		if len(pos) > 0 {
			if !slices.ContainsFunc(pos, func(v value) bool { return !v.exact }) {
				q.setExact(f, pos)
			} else {
				q.Filters = append(q.Filters, Filter{Field: f, Values: patterns(pos)})
			}
		}
		if len(neg) > 0 {
			q.Filters = append(q.Filters, Filter{Field: f, Not: true, Values: patterns(neg)})
		}
	}
	return q
}

func patterns(vals []value) []Pattern {
	out := make([]Pattern, len(vals))
	for i, v := range vals {
		out[i] = v.pat
	}
	return out
}

// setExact fills the exact list of field f.
func (q *Query) setExact(f Field, vals []value) {
	refs := func() []event.Ref {
		out := make([]event.Ref, len(vals))
		for i, v := range vals {
			out[i] = v.ref
		}
		return out
	}
	strs := func() []string {
		out := make([]string, len(vals))
		for i, v := range vals {
			out[i] = v.pat.Parts[0]
		}
		return out
	}
	switch f {
	case FieldActor:
		q.Actors = refs()
	case FieldActorType:
		q.ActorTypes = strs()
	case FieldAction:
		q.Actions = strs()
	case FieldTarget:
		q.Targets = refs()
	case FieldTargetType:
		q.TargetTypes = strs()
	case FieldSource:
		q.Sources = strs()
	case FieldTenant:
		q.Tenants = strs()
	case FieldRequestID:
		q.RequestIDs = strs()
	case FieldIP:
		q.IPs = make([]netip.Prefix, len(vals))
		for i, v := range vals {
			q.IPs[i] = v.pat.Prefix
		}
	}
}

// term reads one term.
func (p *parser) term(term string) error {
	t, not := term, false
	if strings.HasPrefix(t, "-") {
		t, not = t[1:], true
		if t == "" || t[0] == '-' {
			return errors.New("put one - right before a term to exclude what it matches, as in -action:*.view")
		}
	}
	name, v, ok := strings.Cut(t, ":")
	if !ok || strings.ContainsRune(name, '"') {
		return p.text(t, not)
	}
	quoted := strconv.Quote(t)
	if not {
		quoted = "-" + quoted
	}
	if name == "" {
		return fmt.Errorf("missing qualifier before the colon in %s (valid qualifiers: %s); to search for the text, quote it: %s", t, validQualifiers, quoted)
	}
	canon := name
	if a, ok := aliases[name]; ok {
		canon = a
	}
	example, several := "", ""
	for _, qu := range qualifiers {
		if qu.name == canon {
			example, several = qu.example, qu.several
		}
	}
	if example == "" {
		if s := suggest(name); s != "" {
			return fmt.Errorf("unknown qualifier %q (did you mean %s?); valid qualifiers: %s", name, s, validQualifiers)
		}
		return fmt.Errorf("unknown qualifier %q; valid qualifiers: %s; to search for the text %s, quote it: %s", name, validQualifiers, t, quoted)
	}
	if v == "" {
		if canon == "created" {
			// The shell may have taken ">=2024-08-01" as a redirection.
			return fmt.Errorf("%s: missing value, as in %s (quote it in a shell: '%s')", name, example, example)
		}
		return fmt.Errorf("%s: missing value, as in %s", name, example)
	}
	var err error
	switch canon {
	case "created":
		err = p.created(v, not)
	case "outcome":
		err = p.outcome(v, not)
	default:
		err = p.values(Field(canon), name, v, several, not)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

func (p *parser) created(v string, not bool) error {
	if not {
		return fmt.Errorf("times cannot be excluded; %s", oppositeCreated(v))
	}
	if strings.ContainsRune(v, ',') {
		return errors.New("takes one value; to narrow the time, give one created term per bound, as in created:>=2024-08-01 created:<2024-09-01")
	}
	s, err := unquote("created", v)
	if err != nil {
		return err
	}
	return p.q.addCreated(s, p.loc, p.now)
}

// oppositeCreated says what to write instead of -created:v.
func oppositeCreated(v string) string {
	for _, op := range []struct{ op, opposite string }{{">=", "<"}, {"<=", ">"}, {">", "<="}, {"<", ">="}} {
		if t, ok := strings.CutPrefix(v, op.op); ok {
			return fmt.Sprintf("write created:%s%s instead", op.opposite, t)
		}
	}
	v = strings.TrimPrefix(v, "=")
	lo, hi, ok := strings.Cut(v, "..")
	if !ok {
		lo, hi = v, v
	}
	switch {
	case lo == "*" && hi == "*":
		return "-created:*..* would exclude every event"
	case lo == "*":
		return fmt.Sprintf("write created:>%s instead", hi)
	case hi == "*":
		return fmt.Sprintf("write created:<%s instead", lo)
	}
	return fmt.Sprintf("search before (created:<%s) and after (created:>%s) separately", lo, hi)
}

func (p *parser) outcome(v string, not bool) error {
	if strings.ContainsRune(v, ',') {
		return errors.New("takes one value; leave it out to match both")
	}
	s, err := unquote("outcome", v)
	if err != nil {
		return err
	}
	if s != event.OutcomeSuccess && s != event.OutcomeFailure {
		return fmt.Errorf("want %s or %s, got %q", event.OutcomeSuccess, event.OutcomeFailure, s)
	}
	if not {
		other := event.OutcomeSuccess
		if s == other {
			other = event.OutcomeFailure
		}
		return fmt.Errorf("write outcome:%s instead of -outcome:%s", other, s)
	}
	if p.q.Outcome != "" && p.q.Outcome != s {
		return fmt.Errorf("given twice (%s and %s); leave it out to match both", p.q.Outcome, s)
	}
	p.q.Outcome = s
	return nil
}

// values reads the comma-separated values of a term on field f, written as
// name.
func (p *parser) values(f Field, name, v, several string, not bool) error {
	var vals []value
	for _, s := range splitValues(v) {
		if s == "" {
			return fmt.Errorf("empty value in %s; separate values with one comma, as in %s", v, several)
		}
		val, err := readFieldValue(f, name, s)
		if err != nil {
			return err
		}
		vals = append(vals, val)
	}
	g := &p.groups[fieldIndex(f)][0]
	if not {
		g = &p.groups[fieldIndex(f)][1]
	}
	*g = append(*g, vals...)
	return nil
}

// splitValues splits v at its commas outside double quotes.
func splitValues(v string) []string {
	var out []string
	start := 0
	for i := 0; i < len(v); {
		switch v[i] {
		case '"':
			if j := quoteEnd(v, i); j > 0 {
				i = j
			} else {
				i = len(v)
			}
		case ',':
			out = append(out, v[start:i])
			i++
			start = i
		default:
			i++
		}
	}
	return append(out, v[start:])
}

// readFieldValue reads one value of field f.
func readFieldValue(f Field, name, s string) (value, error) {
	if f == FieldActor || f == FieldTarget {
		return readRef(name, s)
	}
	parts, err := readValue(s)
	switch err {
	case nil:
	case errPartQuoted:
		return value{}, fmt.Errorf("quote the whole value, as in %s:\"a b\"", name)
	case errBadQuote:
		return value{}, fmt.Errorf(`bad quoted value %s: inside quotes write \" for a quote and \\ for a backslash`, s)
	default:
		return value{}, fmt.Errorf(`empty value ""`)
	}
	if len(parts) > 1 {
		return value{pat: Pattern{Parts: parts}}, nil
	}
	switch f {
	case FieldIP:
		pfx, err := readIP(parts[0])
		if err != nil {
			return value{}, err
		}
		return value{pat: Pattern{Prefix: pfx}, exact: true}, nil
	case FieldAction:
		parts[0], _ = event.CanonicalAction(parts[0])
	}
	return value{pat: Pattern{Parts: parts}, exact: true}, nil
}

// text reads a term without a qualifier: a word or a quoted phrase.
func (p *parser) text(t string, not bool) error {
	parts, err := readValue(t)
	switch err {
	case nil:
	case errPartQuoted:
		return fmt.Errorf(`free text %s: quote the whole phrase, as in "two words"`, t)
	case errBadQuote:
		return fmt.Errorf(`bad quoted text %s: inside quotes write \" for a quote and \\ for a backslash`, t)
	default:
		return errors.New(`empty text ""`)
	}
	if len(parts) > 1 {
		return fmt.Errorf(`free text %s: leave out the *, text is found anywhere inside a value (for a star itself, write "\*")`, t)
	}
	if not {
		p.q.NotText = append(p.q.NotText, parts[0])
	} else {
		p.q.Text = append(p.q.Text, parts[0])
	}
	return nil
}

var (
	errPartQuoted = errors.New("partly quoted")
	errBadQuote   = errors.New("bad quoted string")
	errEmpty      = errors.New("empty")
)

// readValue reads a value that is bare or wholly in double quotes, split at
// its wildcards. In a bare value every * is a wildcard and every other byte
// itself; in quotes, Go's escapes apply, * is a wildcard, and \* a star.
func readValue(v string) ([]string, error) {
	if v[0] != '"' {
		if strings.ContainsRune(v, '"') {
			return nil, errPartQuoted
		}
		return strings.Split(v, "*"), nil
	}
	if quoteEnd(v, 0) != len(v) {
		return nil, errPartQuoted
	}
	parts, err := readQuoted(v)
	if err != nil {
		return nil, err
	}
	if len(parts) == 1 && parts[0] == "" {
		return nil, errEmpty
	}
	return parts, nil
}

// readQuoted reads a quoted string (v[0] and v[len(v)-1] are its quotes),
// split at its wildcards. Bytes that are not ASCII are kept as they are.
func readQuoted(v string) ([]string, error) {
	var parts []string
	var b []byte
	s := v[1 : len(v)-1]
	for s != "" {
		switch {
		case s[0] == '*':
			parts = append(parts, string(b))
			b = b[:0]
			s = s[1:]
		case strings.HasPrefix(s, `\*`):
			b = append(b, '*')
			s = s[2:]
		case s[0] >= utf8.RuneSelf:
			_, n := utf8.DecodeRuneInString(s)
			b = append(b, s[:n]...)
			s = s[n:]
		default:
			r, multibyte, tail, err := strconv.UnquoteChar(s, '"')
			if err != nil {
				return nil, errBadQuote
			}
			if r < utf8.RuneSelf || !multibyte {
				b = append(b, byte(r))
			} else {
				b = utf8.AppendRune(b, r)
			}
			s = tail
		}
	}
	return append(parts, string(b)), nil
}

// unquote returns a value that is either bare or wholly in double quotes,
// for created and outcome, which have no wildcards.
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

// readRef reads a record, TYPE:ID as event.ParseRef reads it, held to what
// String can write back: only the id quoted, no quotes or spaces in the
// type. A record with a wildcard (actor:User:*, target:Admin::*) is a
// pattern over the text TYPE:ID and need not have both parts.
func readRef(name, v string) (value, error) {
	quoteOnlyID := fmt.Errorf(`quote only the id, as in %s:Type:"a b"`, name)
	if v[0] == '"' {
		return value{}, quoteOnlyID
	}
	var typ, idText string
	var id []string // the id split at its wildcards
	quoted := strings.HasSuffix(v, `"`) || strings.Contains(v, `:"`)
	colon := true
	if quoted {
		open := strings.LastIndex(v[:len(v)-1], `:"`)
		if open <= 0 {
			return value{}, fmt.Errorf("record %q: quoted id must follow TYPE:", v)
		}
		typ = v[:open]
		q := v[open+1:]
		var err error = errBadQuote
		if quoteEnd(q, 0) == len(q) {
			id, err = readQuoted(q)
		}
		if err != nil {
			return value{}, fmt.Errorf("record %q: bad quoted id: invalid syntax", v)
		}
	} else if i := strings.LastIndexByte(v, ':'); i >= 0 {
		typ, idText = v[:i], v[i+1:]
		id = strings.Split(idText, "*")
	} else {
		typ, colon = v, false
	}
	typeParts := strings.Split(typ, "*")
	wild := len(typeParts) > 1 || len(id) > 1
	if !wild && (!colon || typ == "" || !quoted && idText == "") {
		return value{}, fmt.Errorf(`record %q: want TYPE:ID, such as Order:17 or AWS::S3::Bucket:"arn:aws:s3:::logs"`, v)
	}
	if strings.ContainsFunc(typ, func(c rune) bool { return c == '"' || unicode.IsSpace(c) }) ||
		strings.ContainsRune(idText, '"') {
		return value{}, quoteOnlyID
	}
	if !wild {
		if id[0] == "" {
			return value{}, fmt.Errorf("missing id in %s, as in %s:%s:42", v, name, typ)
		}
		return value{
			pat:   Pattern{Parts: []string{typ + ":" + id[0]}},
			exact: true,
			ref:   event.Ref{Type: typ, ID: id[0]},
		}, nil
	}
	parts := typeParts
	if colon {
		parts[len(parts)-1] += ":" + id[0]
		parts = append(parts, id[1:]...)
	}
	return value{pat: Pattern{Parts: parts}}, nil
}

// suggest returns the qualifier closest to a mistyped name, or "".
func suggest(name string) string {
	best, bestD := "", 3 // suggest only within two edits
	lower := strings.ToLower(name)
	try := func(q string) {
		if d := editDistance(lower, q); d < bestD && d < len(name) {
			best, bestD = q, d
		}
	}
	for _, q := range qualifiers {
		try(q.name)
	}
	for a := range aliases {
		try(a)
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
