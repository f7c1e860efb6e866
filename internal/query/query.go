package query

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kansa-audit/kansa/internal/event"
)

// Query is a parsed search: every non-empty condition must hold (AND), and
// within one list any entry may match (OR). The zero Query matches every
// event (heartbeats aside, see HeartbeatAction).
//
// The conditions come in three kinds, so that an index can use the ones it
// can look up:
//
//   - Exact sets (Actors to IPs, Outcome, Since and Until): the values a
//     field may have. A query with Actors, say, can only match events whose
//     actor is one of them, so an index may fetch just those actors' events
//     and check the rest with Match. Parse fills a field's exact set only
//     when none of the values given for that field has a wildcard.
//   - Filters: wildcard patterns and exclusions, which Match checks one by
//     one. When one value of a qualifier has a wildcard
//     (action:create,*.view), all of its values go to one Filter and its
//     exact set stays empty.
//   - Text and NotText: full text over changes and meta.
//
// A Query that Parse returned has at most one Filter of each Field with Not
// and one without. Lists keep the order the terms were written in.
type Query struct {
	Actors      []event.Ref    // actor:TYPE:ID
	ActorTypes  []string       // actor_type:TYPE
	Targets     []event.Ref    // target:TYPE:ID
	TargetTypes []string       // target_type:TYPE
	Actions     []string       // action:VERB, in canonical form (destroy is delete); a * here is a star, not a wildcard
	Sources     []string       // source:NAME
	Tenants     []string       // tenant:NAME
	RequestIDs  []string       // request_id:ID (or request:ID), matched against context.request_id
	IPs         []netip.Prefix // ip:ADDR or ip:CIDR, matched against context.ip; an address is its /32 or /128 (see Pattern.Prefix)
	Outcome     string         // event.OutcomeSuccess, event.OutcomeFailure, or "" for either

	Since time.Time // inclusive lower bound on the event's time; zero means none
	Until time.Time // exclusive upper bound on the event's time; zero means none

	// Filters are the conditions with wildcards and the exclusions, in the
	// order of the Field constants, each field's values before its
	// exclusions.
	Filters []Filter

	// Text holds the bare words and quoted phrases: each must be found in
	// the event's changes or meta (see the package documentation). NotText
	// holds the -words: none may be found. Both as written, not folded.
	Text    []string
	NotText []string

	// Limit caps how many events a search returns; 0 means all. It is not
	// part of the text language: callers set it (a CLI flag, an HTTP
	// parameter), and String leaves it out.
	Limit int
}

// Empty reports whether q has no conditions. Limit is not a condition.
// Match still leaves heartbeats out of an empty query.
func (q *Query) Empty() bool {
	return len(q.Actors) == 0 && len(q.ActorTypes) == 0 &&
		len(q.Targets) == 0 && len(q.TargetTypes) == 0 &&
		len(q.Actions) == 0 && len(q.Sources) == 0 && len(q.Tenants) == 0 &&
		len(q.RequestIDs) == 0 && len(q.IPs) == 0 && q.Outcome == "" &&
		q.Since.IsZero() && q.Until.IsZero() &&
		len(q.Filters) == 0 && len(q.Text) == 0 && len(q.NotText) == 0
}

// MatchTime reports whether t is within [Since, Until).
func (q *Query) MatchTime(t time.Time) bool {
	return (q.Since.IsZero() || !t.Before(q.Since)) && (q.Until.IsZero() || t.Before(q.Until))
}

// HeartbeatAction marks a producer stream's heartbeat (docs/event.md).
// Match leaves heartbeats out unless an action term selects them
// (action:kansa.heartbeat, action:kansa.*); an exclusion (-action:x) does
// not.
const HeartbeatAction = "kansa.heartbeat"

// Match reports whether e satisfies every condition of q. e must not be nil.
// An event not yet normalized counts as tenant "default" and outcome
// "success", as event.Normalize would make it. Match does not allocate and
// does not modify q or e.
func (q *Query) Match(e *event.Event) bool {
	if !q.MatchTime(e.Time) {
		return false
	}
	if len(q.Tenants) > 0 && !contains(q.Tenants, orDefault(e.Tenant, event.DefaultTenant)) {
		return false
	}
	if len(q.Sources) > 0 && !contains(q.Sources, e.Source) {
		return false
	}
	if q.Outcome != "" && q.Outcome != orDefault(e.Outcome, event.OutcomeSuccess) {
		return false
	}
	if len(q.Actions) > 0 && !contains(q.Actions, e.Action) {
		return false
	}
	if e.Action == HeartbeatAction && !q.selectsActions() {
		return false // bookkeeping of a producer stream: only when asked for
	}
	if len(q.Actors) > 0 || len(q.ActorTypes) > 0 {
		a := e.Actor
		if a == nil {
			return false
		}
		if len(q.ActorTypes) > 0 && !contains(q.ActorTypes, a.Type) {
			return false
		}
		if len(q.Actors) > 0 && !containsRef(q.Actors, a.Type, a.ID) {
			return false
		}
	}
	if len(q.Targets) > 0 || len(q.TargetTypes) > 0 {
		t := e.Target
		if t == nil {
			return false
		}
		if len(q.TargetTypes) > 0 && !contains(q.TargetTypes, t.Type) {
			return false
		}
		if len(q.Targets) > 0 && !containsRef(q.Targets, t.Type, t.ID) {
			return false
		}
	}
	if len(q.RequestIDs) > 0 && !contains(q.RequestIDs, e.Context.RequestID) {
		return false
	}
	if len(q.IPs) > 0 && !containsAddr(q.IPs, e.Context.IP) {
		return false
	}
	for i := range q.Filters {
		f := &q.Filters[i]
		if f.match(e) == f.Not {
			return false
		}
	}
	for _, w := range q.Text {
		if !containsText(e.Changes, w) && !containsText(e.Meta, w) {
			return false
		}
	}
	for _, w := range q.NotText {
		if containsText(e.Changes, w) || containsText(e.Meta, w) {
			return false
		}
	}
	return true
}

// selectsActions reports whether q has an action condition other than an
// exclusion.
func (q *Query) selectsActions() bool {
	if len(q.Actions) > 0 {
		return true
	}
	for i := range q.Filters {
		if q.Filters[i].Field == FieldAction && !q.Filters[i].Not {
			return true
		}
	}
	return false
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

func containsRef(list []event.Ref, typ, id string) bool {
	for _, r := range list {
		if r.ID == id && r.Type == typ {
			return true
		}
	}
	return false
}

func containsAddr(list []netip.Prefix, ip string) bool {
	if ip == "" {
		return false
	}
	a := eventAddr(ip)
	if !a.IsValid() {
		return false
	}
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// String returns q in canonical text form: qualifiers in the order actor,
// actor_type, action, target, target_type, source, tenant, request_id, ip,
// outcome, created, then the words and the -words; within a qualifier its
// exact values, its Filter's values, then its exclusions; one term per
// value; values quoted only when they must be; times in UTC as created:>=T
// and created:<T (relative times as the instants they resolved to). Parse
// reads it back, in any time zone, to a Query equal to q (Limit aside)
// whenever q is one that Parse can produce.
func (q *Query) String() string {
	var b strings.Builder
	term := func(not bool, name string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if not {
			b.WriteByte('-')
		}
		b.WriteString(name)
		b.WriteByte(':')
	}
	for _, f := range fields {
		name := string(f)
		var vals []string
		switch f {
		case FieldActor, FieldTarget:
			refs := q.Actors
			if f == FieldTarget {
				refs = q.Targets
			}
			for _, r := range refs {
				term(false, name)
				writeRef(&b, r)
			}
		case FieldActorType:
			vals = q.ActorTypes
		case FieldAction:
			vals = q.Actions
		case FieldTargetType:
			vals = q.TargetTypes
		case FieldSource:
			vals = q.Sources
		case FieldTenant:
			vals = q.Tenants
		case FieldRequestID:
			vals = q.RequestIDs
		case FieldIP:
			for _, p := range q.IPs {
				term(false, name)
				b.WriteString(writeIP(p))
			}
		}
		for _, v := range vals {
			term(false, name)
			writeValue(&b, v)
		}
		for _, not := range []bool{false, true} {
			for _, flt := range q.Filters {
				if flt.Field != f || flt.Not != not {
					continue
				}
				for _, p := range flt.Values {
					term(not, name)
					writePattern(&b, f, p)
				}
			}
		}
	}
	if q.Outcome != "" {
		term(false, "outcome")
		writeValue(&b, q.Outcome)
	}
	// The last instant Parse can write is 9999-12-31T23:59:59.999999999Z, so
	// a bound at the very end of that range is written as the span that
	// ends there.
	if !q.Since.IsZero() {
		term(false, "created")
		if s := q.Since.UTC(); s.Year() > 9999 {
			b.WriteString(">" + lastSecond)
		} else {
			b.WriteString(">=" + s.Format(time.RFC3339Nano))
		}
	}
	if !q.Until.IsZero() {
		term(false, "created")
		if u := q.Until.UTC(); u.Year() > 9999 {
			b.WriteString("<=" + lastSecond)
		} else {
			b.WriteString("<" + u.Format(time.RFC3339Nano))
		}
	}
	for _, not := range []bool{false, true} {
		words := q.Text
		if not {
			words = q.NotText
		}
		for _, w := range words {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			if not {
				b.WriteByte('-')
			}
			if hasSpecial(w) || w == "" || strings.ContainsRune(w, ':') || w[0] == '-' {
				writeQuoted(&b, []string{w})
			} else {
				b.WriteString(w)
			}
		}
	}
	return b.String()
}

const lastSecond = "9999-12-31T23:59:59Z"

// writeRef writes a record with its id quoted when it must be.
func writeRef(b *strings.Builder, r event.Ref) {
	b.WriteString(r.Type)
	b.WriteByte(':')
	if r.ID == "" || hasSpecial(r.ID) || strings.IndexByte(r.ID, ':') >= 0 {
		writeQuoted(b, []string{r.ID})
	} else {
		b.WriteString(r.ID)
	}
}

func writeValue(b *strings.Builder, v string) {
	writeParts(b, []string{v})
}

func writePattern(b *strings.Builder, f Field, p Pattern) {
	switch {
	case p.Prefix.IsValid():
		b.WriteString(writeIP(p.Prefix))
	case f == FieldActor || f == FieldTarget:
		writeRefPattern(b, p.Parts)
	default:
		writeParts(b, p.Parts)
	}
}

// writeParts writes the pieces of a value joined by wildcards, bare when
// it can be.
func writeParts(b *strings.Builder, parts []string) {
	if slices.ContainsFunc(parts, hasSpecial) || len(parts) == 1 && parts[0] == "" {
		writeQuoted(b, parts)
		return
	}
	writeBare(b, parts)
}

// writeRefPattern writes a pattern over TYPE:ID. Only an id may be quoted,
// so the quotes open after a colon that has only text before it that can
// be written bare: for readability, the last colon before anything that
// needs quotes in an id; if the type part itself has such bytes (which a
// type may have bare), the last colon before a byte that a type cannot
// have.
func writeRefPattern(b *strings.Builder, parts []string) {
	k, c, special := lastColonBefore(parts, isSpecial)
	if !special {
		writeParts(b, parts)
		return
	}
	if k < 0 {
		k, c, special = lastColonBefore(parts, func(r rune, _ int) bool {
			return r == '"' || r == ',' || r == '*' || unicode.IsSpace(r)
		})
		if !special {
			writeBare(b, parts)
			return
		}
	}
	if k < 0 {
		writeParts(b, parts) // not a pattern Parse reads
		return
	}
	writeBare(b, parts[:k])
	if k > 0 {
		b.WriteByte('*')
	}
	b.WriteString(parts[k][:c+1])
	writeQuoted(b, append([]string{parts[k][c+1:]}, parts[k+1:]...))
}

// lastColonBefore returns the last colon, parts[k][c], that is not the
// first byte and comes before the first rune for which stop is true, and
// whether there is such a rune; k is -1 if there is no such colon.
func lastColonBefore(parts []string, stop func(r rune, size int) bool) (k, c int, found bool) {
	k, c = -1, -1
	for i, p := range parts {
		for j := 0; j < len(p); {
			r, n := utf8.DecodeRuneInString(p[j:])
			if stop(r, n) {
				return k, c, true
			}
			if r == ':' && (i > 0 || j > 0) { // TYPE may not be empty
				k, c = i, j
			}
			j += n
		}
	}
	return k, c, false
}

// writeBare writes parts joined by wildcards, as they are.
func writeBare(b *strings.Builder, parts []string) {
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('*')
		}
		b.WriteString(p)
	}
}

// writeQuoted writes parts joined by wildcards in double quotes, with Go's
// escapes and \* for a star.
func writeQuoted(b *strings.Builder, parts []string) {
	b.WriteByte('"')
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('*')
		}
		s := strconv.Quote(p)
		b.WriteString(strings.ReplaceAll(s[1:len(s)-1], "*", `\*`))
	}
	b.WriteByte('"')
}

// hasSpecial reports whether v cannot be written bare: it has a quote or a
// space that would end the term, a comma or a star that would split it, or
// bytes a reader cannot see.
func hasSpecial(v string) bool {
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRuneInString(v[i:])
		if isSpecial(r, n) {
			return true
		}
		i += n
	}
	return false
}

func isSpecial(r rune, size int) bool {
	return r == utf8.RuneError && size == 1 || r == '"' || r == ',' || r == '*' ||
		unicode.IsSpace(r) || !unicode.IsPrint(r)
}
