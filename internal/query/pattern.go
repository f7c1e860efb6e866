package query

import (
	"net/netip"
	"strings"

	"github.com/kansa-audit/kansa/internal/event"
)

// Field names the part of an event that a Filter tests. Its value is the
// qualifier that writes it.
type Field string

// The fields a Filter may test, in canonical order (the order String writes
// them in).
const (
	FieldActor      Field = "actor"       // the actor as text TYPE:ID
	FieldActorType  Field = "actor_type"  // actor.type
	FieldAction     Field = "action"      // action
	FieldTarget     Field = "target"      // the target as text TYPE:ID
	FieldTargetType Field = "target_type" // target.type
	FieldSource     Field = "source"      // source
	FieldTenant     Field = "tenant"      // tenant ("default" when empty)
	FieldRequestID  Field = "request_id"  // context.request_id
	FieldIP         Field = "ip"          // context.ip
)

var fields = [...]Field{
	FieldActor, FieldActorType, FieldAction, FieldTarget, FieldTargetType,
	FieldSource, FieldTenant, FieldRequestID, FieldIP,
}

func fieldIndex(f Field) int {
	for i, g := range fields {
		if g == f {
			return i
		}
	}
	return -1
}

// A Filter is a condition on one field that is not a set of exact values:
// the values of one qualifier when any of them has a wildcard, or the values
// of an exclusion. An index cannot look a Filter up by key; it checks it on
// the events it fetched (with Match).
//
// Without Not, the event matches when its field matches any of Values (OR);
// with Not, when it matches none of them. A field the event does not have
// (no actor, no target, an empty context.request_id or context.ip) matches
// no value, so it fails a Filter and passes an exclusion.
type Filter struct {
	Field  Field
	Not    bool      // an exclusion: -qualifier:values
	Values []Pattern // any of them (OR); never empty
}

// A Pattern is one value of a Filter.
//
// A record (actor, target) is matched as its text TYPE:ID with the id
// unquoted: Order:* matches Order:17, Admin::* every Admin:: type, and
// AWS::S3::Bucket:arn:aws:s3:::logs the bucket of that id.
type Pattern struct {
	// Parts are the literal pieces of the value between its wildcards,
	// each * standing for any run of bytes (including none): *.view is
	// {"", ".view"}, Order:* is {"Order:", ""}, a*b*c is {"a", "b", "c"}.
	// A value without a wildcard is one part, matched exactly; * alone is
	// {"", ""}, which matches any value the event has. Nil when Prefix
	// is set.
	Parts []string

	// Prefix is an IP address or CIDR block, for ip only: it matches
	// context.ip when that is an address (optionally with a port) inside
	// the block. An address is its /32 or /128; IPv4-mapped IPv6
	// addresses count as IPv4.
	Prefix netip.Prefix
}

// match reports whether the field of e that f tests matches any of f's
// values, leaving Not aside.
func (f *Filter) match(e *event.Event) bool {
	var s subject
	switch f.Field {
	case FieldActor:
		if e.Actor == nil {
			return false
		}
		s = subject{a: e.Actor.Type, b: e.Actor.ID, ref: true}
	case FieldTarget:
		if e.Target == nil {
			return false
		}
		s = subject{a: e.Target.Type, b: e.Target.ID, ref: true}
	case FieldActorType:
		if e.Actor == nil {
			return false
		}
		s.a = e.Actor.Type
	case FieldTargetType:
		if e.Target == nil {
			return false
		}
		s.a = e.Target.Type
	case FieldAction:
		s.a = e.Action
	case FieldSource:
		s.a = e.Source
	case FieldTenant:
		s.a = orDefault(e.Tenant, event.DefaultTenant)
	case FieldRequestID:
		s.a = e.Context.RequestID
	case FieldIP:
		return matchIP(f.Values, e.Context.IP)
	default:
		return false
	}
	if s.a == "" && !s.ref {
		return false
	}
	for i := range f.Values {
		if f.Values[i].match(s) {
			return true
		}
	}
	return false
}

func matchIP(values []Pattern, ip string) bool {
	if ip == "" {
		return false
	}
	var addr netip.Addr
	parsed := false
	for i := range values {
		p := &values[i]
		if !p.Prefix.IsValid() {
			if p.match(subject{a: ip}) {
				return true
			}
			continue
		}
		if !parsed {
			addr, parsed = eventAddr(ip), true
		}
		if addr.IsValid() && p.Prefix.Contains(addr) {
			return true
		}
	}
	return false
}

// match reports whether the text s matches p's parts.
func (p *Pattern) match(s subject) bool {
	parts := p.Parts
	if len(parts) == 0 {
		return false
	}
	n := s.len()
	if len(parts) == 1 {
		return n == len(parts[0]) && s.equalAt(0, parts[0])
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(first)+len(last) > n || !s.equalAt(0, first) || !s.equalAt(n-len(last), last) {
		return false
	}
	// With * as the only wildcard, taking each middle part at its first
	// place after the previous one is enough.
	i, end := len(first), n-len(last)
	for _, mid := range parts[1 : len(parts)-1] {
		j := s.index(i, end, mid)
		if j < 0 {
			return false
		}
		i = j + len(mid)
	}
	return true
}

// subject is the text a pattern is matched against: a, or for a record
// a + ":" + b, read in place so that matching never builds a string.
type subject struct {
	a, b string
	ref  bool
}

func (s subject) len() int {
	if !s.ref {
		return len(s.a)
	}
	return len(s.a) + 1 + len(s.b)
}

func (s subject) at(i int) byte {
	switch {
	case i < len(s.a):
		return s.a[i]
	case i == len(s.a):
		return ':'
	default:
		return s.b[i-len(s.a)-1]
	}
}

// equalAt reports whether lit is the text at i; i+len(lit) must not pass
// the end.
func (s subject) equalAt(i int, lit string) bool {
	if !s.ref {
		return s.a[i:i+len(lit)] == lit
	}
	for k := 0; k < len(lit); k++ {
		if s.at(i+k) != lit[k] {
			return false
		}
	}
	return true
}

// index returns the first j >= from with lit at j ending by end, or -1.
func (s subject) index(from, end int, lit string) int {
	if !s.ref {
		j := strings.Index(s.a[from:end], lit)
		if j < 0 {
			return -1
		}
		return from + j
	}
	for j := from; j+len(lit) <= end; j++ {
		if s.equalAt(j, lit) {
			return j
		}
	}
	return -1
}
