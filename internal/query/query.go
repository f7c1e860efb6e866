package query

import (
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kansa-audit/kansa/internal/event"
)

// Query is a parsed search: every non-empty condition must hold (AND), and
// within one list any entry may match (OR). The zero Query matches every
// event.
type Query struct {
	Actors      []event.Ref // actor:TYPE:ID
	ActorTypes  []string    // actor_type:TYPE
	Targets     []event.Ref // target:TYPE:ID
	TargetTypes []string    // target_type:TYPE
	Actions     []string    // action:VERB; an entry ending in '*' matches by prefix
	Sources     []string    // source:NAME
	Tenants     []string    // tenant:NAME
	RequestIDs  []string    // request_id:ID, matched against context.request_id
	Outcome     string      // event.OutcomeSuccess, event.OutcomeFailure, or "" for either

	Since time.Time // inclusive lower bound on the event's time; zero means none
	Until time.Time // exclusive upper bound on the event's time; zero means none

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
		len(q.RequestIDs) == 0 && q.Outcome == "" &&
		q.Since.IsZero() && q.Until.IsZero()
}

// MatchTime reports whether t is within [Since, Until).
func (q *Query) MatchTime(t time.Time) bool {
	return (q.Since.IsZero() || !t.Before(q.Since)) && (q.Until.IsZero() || t.Before(q.Until))
}

// HeartbeatAction marks a producer stream's heartbeat (docs/event.md).
// Match leaves heartbeats out unless an action term selects them
// (action:kansa.heartbeat, action:kansa.*).
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
	if len(q.Actions) > 0 && !matchAction(q.Actions, e.Action) {
		return false
	}
	if len(q.Actions) == 0 && e.Action == HeartbeatAction {
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
	return true
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

func matchAction(list []string, action string) bool {
	for _, a := range list {
		if n := len(a); n > 0 && a[n-1] == '*' {
			if strings.HasPrefix(action, a[:n-1]) {
				return true
			}
		} else if a == action {
			return true
		}
	}
	return false
}

// String returns q in canonical text form: qualifiers in the order actor,
// actor_type, action, target, target_type, source, tenant, request_id,
// outcome, created; values quoted only when they must be; times in UTC as
// created:>=T and created:<T. Parse reads it back, in any time zone, to a
// Query equal to q (Limit aside) whenever q is one that Parse can produce.
func (q *Query) String() string {
	var b strings.Builder
	term := func(name string) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(name)
		b.WriteByte(':')
	}
	for _, r := range q.Actors {
		term("actor")
		writeRef(&b, r)
	}
	for _, v := range q.ActorTypes {
		term("actor_type")
		writeValue(&b, v)
	}
	for _, v := range q.Actions {
		term("action")
		writeValue(&b, v)
	}
	for _, r := range q.Targets {
		term("target")
		writeRef(&b, r)
	}
	for _, v := range q.TargetTypes {
		term("target_type")
		writeValue(&b, v)
	}
	for _, v := range q.Sources {
		term("source")
		writeValue(&b, v)
	}
	for _, v := range q.Tenants {
		term("tenant")
		writeValue(&b, v)
	}
	for _, v := range q.RequestIDs {
		term("request_id")
		writeValue(&b, v)
	}
	if q.Outcome != "" {
		term("outcome")
		writeValue(&b, q.Outcome)
	}
	// The last instant Parse can write is 9999-12-31T23:59:59.999999999Z, so
	// a bound at the very end of that range is written as the span that
	// ends there.
	if !q.Since.IsZero() {
		term("created")
		if s := q.Since.UTC(); s.Year() > 9999 {
			b.WriteString(">" + lastSecond)
		} else {
			b.WriteString(">=" + s.Format(time.RFC3339Nano))
		}
	}
	if !q.Until.IsZero() {
		term("created")
		if u := q.Until.UTC(); u.Year() > 9999 {
			b.WriteString("<=" + lastSecond)
		} else {
			b.WriteString("<" + u.Format(time.RFC3339Nano))
		}
	}
	return b.String()
}

const lastSecond = "9999-12-31T23:59:59Z"

func writeRef(b *strings.Builder, r event.Ref) {
	b.WriteString(r.Type)
	b.WriteByte(':')
	if strings.IndexByte(r.ID, ':') >= 0 {
		b.WriteString(strconv.Quote(r.ID))
	} else {
		writeValue(b, r.ID)
	}
}

func writeValue(b *strings.Builder, v string) {
	if needsQuote(v) {
		b.WriteString(strconv.Quote(v))
	} else {
		b.WriteString(v)
	}
}

// needsQuote reports whether v cannot be written bare: it is empty, has a
// quote or a space that would end the term, or has bytes a reader cannot see.
func needsQuote(v string) bool {
	if v == "" || !utf8.ValidString(v) {
		return true
	}
	for _, r := range v {
		if r == '"' || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
	}
	return false
}
