package event

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schema marks a line as a kansa event and versions its shape.
const Schema = "kansa.audit/v1"

// Defaults filled in by Normalize.
const (
	DefaultTenant  = "default"
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// Limits on producer-supplied strings, so one bad producer cannot make keys or
// indexes unbounded.
const (
	maxIDLen    = 200
	maxNameLen  = 256
	maxFieldLen = 4096
)

// Event is one audit event. The zero value is not valid; see Validate.
//
// Changes, Meta and Origin hold raw JSON objects (or nil) exactly as
// received; the Event owns them once built, and Decode makes them alias the
// decoded line only if the caller passes ownership of it (see Decode).
type Event struct {
	ID     string
	Time   time.Time // the instant, truncated to microseconds; its Location carries the original offset
	Action string
	Actor  *Actor  // nil for system changes
	Target *Target // nil when the event concerns no record (a login)

	Changes []byte // raw JSON object, or nil
	Context Context

	Source  string
	Tenant  string
	Outcome string // OutcomeSuccess or OutcomeFailure
	Seq     *Seq

	Origin     []byte    // raw JSON object, or nil
	ReceivedAt time.Time // set by kansa when the event became durable
	Meta       []byte    // raw JSON object, or nil

	// Original is the line as it arrived, kept for events mapped from a
	// foreign shape; nil for events that arrived in kansa's own shape.
	Original []byte
}

// Actor is who did it.
type Actor struct {
	Type string
	ID   string
	Name string
}

// Target is what it was done to.
type Target struct {
	Type   string
	ID     string
	Schema string
	Table  string
}

// Context is where and how it was done.
type Context struct {
	Host      string
	IP        string
	UserAgent string
	RequestID string
	Endpoint  string
	Caller    string
	TraceID   string
}

// Seq places an event in its producer stream: N is gap-free within Stream.
type Seq struct {
	Stream string
	N      uint64
}

// Actions that Ruby and other producers spell differently.
var actionAliases = map[string]string{"destroy": "delete"}

// CanonicalAction maps producer spellings onto kansa's (destroy → delete).
// It reports whether the action changed.
func CanonicalAction(a string) (string, bool) {
	if c, ok := actionAliases[a]; ok {
		return c, true
	}
	return a, false
}

// ValidationError says which field is wrong and why.
type ValidationError struct {
	Field string
	Msg   string
}

func (e *ValidationError) Error() string { return fmt.Sprintf("field %q: %s", e.Field, e.Msg) }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Normalize fills the defaults (tenant, outcome) and truncates Time to
// microseconds. It does not derive an id; see DeriveID.
func (e *Event) Normalize() {
	if e.Tenant == "" {
		e.Tenant = DefaultTenant
	}
	if e.Outcome == "" {
		e.Outcome = OutcomeSuccess
	}
	e.Time = e.Time.Truncate(time.Microsecond)
}

// Validate checks an event after Normalize. The error names the first field
// that is wrong.
func (e *Event) Validate() error {
	if err := checkText("id", e.ID, maxIDLen, true); err != nil {
		return err
	}
	if e.Time.IsZero() {
		return invalid("time", "required")
	}
	if y := e.Time.UTC().Year(); y < 1 || y > 9999 {
		return invalid("time", "year %d out of range 1..9999", y)
	}
	if err := checkText("action", e.Action, maxNameLen, true); err != nil {
		return err
	}
	if e.Actor != nil {
		if err := checkText("actor.type", e.Actor.Type, maxNameLen, true); err != nil {
			return err
		}
		if err := checkText("actor.id", e.Actor.ID, maxIDLen, true); err != nil {
			return err
		}
		if err := checkText("actor.name", e.Actor.Name, maxNameLen, false); err != nil {
			return err
		}
	}
	if e.Target != nil {
		if err := checkText("target.type", e.Target.Type, maxIDLen, true); err != nil {
			return err
		}
		// No id: the event is about rows not known one by one (a batch
		// update by condition, described in meta).
		if err := checkText("target.id", e.Target.ID, maxIDLen, false); err != nil {
			return err
		}
		if err := checkText("target.schema", e.Target.Schema, maxNameLen, false); err != nil {
			return err
		}
		if err := checkText("target.table", e.Target.Table, maxNameLen, false); err != nil {
			return err
		}
	}
	if err := checkText("source", e.Source, maxNameLen, true); err != nil {
		return err
	}
	if err := checkText("tenant", e.Tenant, maxNameLen, true); err != nil {
		return err
	}
	if e.Outcome != OutcomeSuccess && e.Outcome != OutcomeFailure {
		return invalid("outcome", "must be %q or %q, got %q", OutcomeSuccess, OutcomeFailure, e.Outcome)
	}
	if e.Seq != nil {
		if err := checkText("seq.stream", e.Seq.Stream, maxIDLen, true); err != nil {
			return err
		}
		if e.Seq.N == 0 {
			return invalid("seq.n", "must be 1 or more")
		}
	}
	for _, f := range []struct {
		name string
		v    string
	}{{"context.host", e.Context.Host}, {"context.ip", e.Context.IP}, {"context.user_agent", e.Context.UserAgent}, {"context.request_id", e.Context.RequestID}, {"context.endpoint", e.Context.Endpoint}, {"context.caller", e.Context.Caller}, {"context.trace_id", e.Context.TraceID}} {
		if len(f.v) > maxFieldLen {
			return invalid(f.name, "longer than %d bytes", maxFieldLen)
		}
	}
	return nil
}

func checkText(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return invalid(field, "required")
		}
		return nil
	}
	if len(v) > max {
		return invalid(field, "longer than %d bytes", max)
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return invalid(field, "contains control character %q at byte %d", v[i], i)
		}
	}
	return nil
}

// DeriveID returns a deterministic id for an event that arrived without one,
// from the parts that say where it came from (source, stream, file identity,
// offset, or the line itself). The same parts always give the same id: reading
// the same input twice yields the same events. The id is a UUID of version 8
// (custom) built from SHA-256, so it looks like the UUIDv7 ids producers send.
func DeriveID(parts ...[]byte) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	for _, p := range parts {
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(p)))])
		h.Write(p)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	sum[6] = sum[6]&0x0f | 0x80 // version 8
	sum[8] = sum[8]&0x3f | 0x80 // RFC 9562 variant
	return formatUUID(sum[:16])
}

func formatUUID(b []byte) string {
	const hex = "0123456789abcdef"
	var out [36]byte
	j := 0
	for i := 0; i < 16; i++ {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out[j] = '-'
			j++
		}
		out[j], out[j+1] = hex[b[i]>>4], hex[b[i]&0xf]
		j += 2
	}
	return string(out[:])
}

// Ref names a record as TYPE:ID: the id is what follows the last colon, or a
// quoted string when the id itself has colons (AWS::S3::Bucket:"arn:aws:s3:::logs").
type Ref struct {
	Type string
	ID   string
}

// ParseRef parses TYPE:ID.
func ParseRef(s string) (Ref, error) {
	if strings.HasSuffix(s, `"`) || strings.Contains(s, `:"`) {
		// TYPE:"id with : colons"
		open := strings.LastIndex(s[:len(s)-1], `:"`)
		if open <= 0 {
			return Ref{}, fmt.Errorf("record %q: quoted id must follow TYPE:", s)
		}
		id, err := strconv.Unquote(s[open+1:])
		if err != nil {
			return Ref{}, fmt.Errorf("record %q: bad quoted id: %v", s, err)
		}
		return Ref{Type: s[:open], ID: id}, nil
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 || i == len(s)-1 {
		return Ref{}, fmt.Errorf("record %q: want TYPE:ID, such as Order:17 or AWS::S3::Bucket:\"arn:aws:s3:::logs\"", s)
	}
	return Ref{Type: s[:i], ID: s[i+1:]}, nil
}

// String formats the reference, quoting the id when it has a colon or a quote.
func (r Ref) String() string {
	return string(r.Append(make([]byte, 0, len(r.Type)+1+len(r.ID)+2)))
}

// Append appends the reference as String formats it.
func (r Ref) Append(dst []byte) []byte {
	dst = append(append(dst, r.Type...), ':')
	if strings.ContainsAny(r.ID, `:"`) || r.ID == "" {
		return strconv.AppendQuote(dst, r.ID)
	}
	return append(dst, r.ID...)
}
