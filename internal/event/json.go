package event

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/kansa-audit/kansa/internal/rawjson"
)

// TimeLayout is how times are encoded: UTC, exactly six fractional digits, so
// that encoded times sort as strings and encode identically every time.
const TimeLayout = "2006-01-02T15:04:05.000000Z"

// AppendJSON appends the event's JSON encoding, one object with no trailing
// newline, fields in a fixed order. Empty optional fields are omitted.
func (e *Event) AppendJSON(dst []byte) []byte {
	dst = append(dst, `{"schema":"`+Schema+`","id":`...)
	dst = rawjson.AppendQuote(dst, e.ID)
	dst = append(dst, `,"time":"`...)
	dst = AppendTime(dst, e.Time)
	dst = append(dst, '"')
	if _, off := e.Time.Zone(); off != 0 {
		dst = append(dst, `,"time_offset":"`...)
		dst = appendOffset(dst, off)
		dst = append(dst, '"')
	}
	dst = append(dst, `,"action":`...)
	dst = rawjson.AppendQuote(dst, e.Action)
	if e.Actor != nil {
		dst = append(dst, `,"actor":{"type":`...)
		dst = rawjson.AppendQuote(dst, e.Actor.Type)
		dst = append(dst, `,"id":`...)
		dst = rawjson.AppendQuote(dst, e.Actor.ID)
		dst = appendOpt(dst, "name", e.Actor.Name)
		dst = append(dst, '}')
	}
	if e.Target != nil {
		dst = append(dst, `,"target":{"type":`...)
		dst = rawjson.AppendQuote(dst, e.Target.Type)
		dst = appendOpt(dst, "id", e.Target.ID)
		dst = appendOpt(dst, "schema", e.Target.Schema)
		dst = appendOpt(dst, "table", e.Target.Table)
		dst = append(dst, '}')
	}
	if len(e.Changes) > 0 {
		dst = append(dst, `,"changes":`...)
		dst = rawjson.AppendOneLine(dst, e.Changes)
	}
	if e.Context != (Context{}) {
		c := &e.Context
		mark := len(dst)
		dst = append(dst, `,"context":{`...)
		start := len(dst)
		dst = appendOpt(dst, "host", c.Host)
		dst = appendOpt(dst, "ip", c.IP)
		dst = appendOpt(dst, "user_agent", c.UserAgent)
		dst = appendOpt(dst, "request_id", c.RequestID)
		dst = appendOpt(dst, "endpoint", c.Endpoint)
		dst = appendOpt(dst, "caller", c.Caller)
		dst = appendOpt(dst, "trace_id", c.TraceID)
		if len(dst) > start { // drop the first field's leading comma
			copy(dst[start:], dst[start+1:])
			dst = dst[:len(dst)-1]
		} else {
			dst = dst[:mark]
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"source":`...)
	dst = rawjson.AppendQuote(dst, e.Source)
	dst = append(dst, `,"tenant":`...)
	dst = rawjson.AppendQuote(dst, e.Tenant)
	dst = append(dst, `,"outcome":`...)
	dst = rawjson.AppendQuote(dst, e.Outcome)
	if e.Seq != nil {
		dst = append(dst, `,"seq":{"stream":`...)
		dst = rawjson.AppendQuote(dst, e.Seq.Stream)
		dst = append(dst, `,"n":`...)
		dst = strconv.AppendUint(dst, e.Seq.N, 10)
		dst = append(dst, '}')
	}
	if len(e.Origin) > 0 {
		dst = append(dst, `,"origin":`...)
		dst = rawjson.AppendOneLine(dst, e.Origin)
	}
	if !e.ReceivedAt.IsZero() {
		dst = append(dst, `,"received_at":"`...)
		dst = AppendTime(dst, e.ReceivedAt)
		dst = append(dst, '"')
	}
	if len(e.Meta) > 0 {
		dst = append(dst, `,"meta":`...)
		dst = rawjson.AppendOneLine(dst, e.Meta)
	}
	if e.Original != nil {
		dst = append(dst, `,"original":`...)
		dst = rawjson.AppendQuote(dst, e.Original)
	}
	return append(dst, '}')
}

// AppendTime appends t in TimeLayout (UTC, six fractional digits), the same
// bytes as t.UTC().AppendFormat(dst, TimeLayout) for years 0001-9999, without
// the generic formatter's cost.
func AppendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	us := t.Nanosecond() / 1000
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, 'T')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	dst = append(dst, '.')
	dst = append2(dst, us/10000)
	dst = append2(dst, us/100%100)
	dst = append2(dst, us%100)
	return append(dst, 'Z')
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

func appendOpt(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return rawjson.AppendQuote(dst, v)
}

func appendOffset(dst []byte, off int) []byte {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	h, m := off/3600, off%3600/60
	return append(dst, sign, byte('0'+h/10), byte('0'+h%10), ':', byte('0'+m/10), byte('0'+m%10))
}

// ParseTime parses a producer's timestamp: RFC 3339 with any fraction, or the
// space-separated forms Ruby and PostgreSQL print ("2024-08-06 18:00:59.981 +0900").
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a timestamp: %q (want RFC 3339, e.g. 2024-08-06T18:00:59.981+09:00)", s)
}

var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05.999999999 -07:00",
	"2006-01-02 15:04:05.999999999 MST",
	"2006-01-02T15:04:05.999999999-0700",
}

// Decode parses one event in kansa's own shape. The returned event's raw
// fields (Changes, Meta, Origin) alias line: the caller must not modify line
// while the event is in use. Top-level fields the shape does not define are
// moved into meta. A missing id is left empty for the caller to derive; a
// missing tenant or outcome is left for Normalize.
func Decode(line []byte) (*Event, error) { return decoder{}.decode(line) }

// DecodeAliased is Decode whose strings also alias line, saving an
// allocation per field on hot paths. The caller must neither modify nor
// reuse line while the event (or any string taken from it) is in use.
func DecodeAliased(line []byte) (*Event, error) { return decoder{alias: true}.decode(line) }

// decoder reads kansa's shape; alias makes strings point into the input.
// With reuse set, the event and its parts are reuse's instead of new ones.
type decoder struct {
	alias bool
	reuse *Decoder
}

// A Decoder decodes events as DecodeAliased does into storage it reuses,
// allocating nothing for most events: the *Event that Decode returns, with
// its Actor, Target and Seq, is valid only until the next call. For loops
// that take a few fields from each of many events.
type Decoder struct {
	e Event
	a Actor
	t Target
	s Seq
}

// Decode decodes line, overwriting the previous call's event.
func (d *Decoder) Decode(line []byte) (*Event, error) {
	return decoder{alias: true, reuse: d}.decode(line)
}

func (d decoder) decode(line []byte) (*Event, error) {
	var buf [48]rawjson.Field
	fields, err := rawjson.FieldsDeep(buf[:0], line, deepField)
	if err != nil {
		return nil, err
	}
	return d.fromFields(fields)
}

// deepField picks the members whose objects decode reads in the same scan
// as the event's top level.
func deepField(key []byte) bool {
	switch string(key) {
	case "actor", "target", "context":
		return true
	}
	return false
}

// DecodeFields is DecodeAliased for a line whose top-level fields the
// caller has already scanned with rawjson.Fields (as routing and mapping do),
// so the line is not scanned twice.
func DecodeFields(fields []rawjson.Field) (*Event, error) {
	return decoder{alias: true}.fromFields(fields)
}

func (d decoder) fromFields(fields []rawjson.Field) (*Event, error) {
	var err error
	var e *Event
	if d.reuse != nil {
		e = &d.reuse.e
		*e = Event{}
	} else {
		e = new(Event)
	}
	var extra []rawjson.Field
	var offset string
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		v := f.Value
		kids := rawjson.Members(fields, i) // f's members, when the scan read them (rawjson.FieldsDeep)
		i += len(kids)
		switch string(f.Key) {
		case "schema":
			s, err := d.text("schema", v)
			if err != nil {
				return nil, err
			}
			if s != Schema {
				return nil, invalid("schema", "unsupported %q (this kansa reads %q)", s, Schema)
			}
		case "id":
			if e.ID, err = d.idText("id", v); err != nil {
				return nil, err
			}
		case "time":
			s, err := d.text("time", v)
			if err != nil {
				return nil, err
			}
			if s == "" {
				return nil, invalid("time", "required")
			}
			if e.Time, err = ParseTime(s); err != nil {
				return nil, invalid("time", "%v", err)
			}
		case "time_offset":
			if offset, err = d.text("time_offset", v); err != nil {
				return nil, err
			}
		case "action":
			if e.Action, err = d.text("action", v); err != nil {
				return nil, err
			}
		case "actor":
			if e.Actor, err = d.decodeActor(v, kids, f.Deep); err != nil {
				return nil, err
			}
		case "target":
			if e.Target, err = d.decodeTarget(v, kids, f.Deep); err != nil {
				return nil, err
			}
		case "changes":
			if e.Changes, err = object("changes", v); err != nil {
				return nil, err
			}
		case "context":
			if err = d.decodeContext(&e.Context, v, kids, f.Deep); err != nil {
				return nil, err
			}
		case "source":
			if e.Source, err = d.text("source", v); err != nil {
				return nil, err
			}
		case "tenant":
			if e.Tenant, err = d.text("tenant", v); err != nil {
				return nil, err
			}
		case "outcome":
			if e.Outcome, err = d.text("outcome", v); err != nil {
				return nil, err
			}
		case "seq":
			if e.Seq, err = d.decodeSeq(v); err != nil {
				return nil, err
			}
		case "origin":
			if e.Origin, err = object("origin", v); err != nil {
				return nil, err
			}
		case "received_at":
			s, err := d.text("received_at", v)
			if err != nil {
				return nil, err
			}
			if s != "" {
				if e.ReceivedAt, err = time.Parse(time.RFC3339Nano, s); err != nil {
					return nil, invalid("received_at", "not RFC 3339: %q", s)
				}
			}
		case "meta":
			if e.Meta, err = object("meta", v); err != nil {
				return nil, err
			}
		case "original":
			if rawjson.KindOf(v) == rawjson.Null {
				continue
			}
			if rawjson.KindOf(v) != rawjson.String {
				return nil, invalid("original", "must be a string, got %s", rawjson.KindOf(v))
			}
			if e.Original, err = rawjson.Unquote(nil, v); err != nil {
				return nil, invalid("original", "%v", err)
			}
		default:
			if f.KeyEscaped {
				return nil, invalid(string(f.Key), "escaped field names are not allowed at top level")
			}
			extra = append(extra, f)
		}
	}
	if offset != "" && !e.Time.IsZero() {
		loc, err := parseOffset(offset)
		if err != nil {
			return nil, err
		}
		e.Time = e.Time.In(loc)
	}
	if len(extra) > 0 {
		if e.Meta, err = MergeObject(e.Meta, extra); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// zones caches the fixed zones of the time offsets seen; there are at most
// a few thousand valid ones.
var zones sync.Map // string → *time.Location

func parseOffset(s string) (*time.Location, error) {
	if loc, ok := zones.Load(s); ok {
		return loc.(*time.Location), nil
	}
	t, err := time.Parse("-07:00", s)
	if err != nil {
		return nil, invalid("time_offset", "want ±HH:MM, got %q", s)
	}
	_, off := t.Zone()
	loc := time.FixedZone("", off)
	zones.Store(strings.Clone(s), loc)
	return loc, nil
}

// MergeObject returns obj (a raw JSON object or nil) with fields added at the
// end. A field whose name obj already has is an error, so nothing is silently
// overwritten.
func MergeObject(obj []byte, fields []rawjson.Field) ([]byte, error) {
	var have []rawjson.Field
	if len(obj) > 0 {
		var err error
		if have, err = rawjson.ObjectFields(nil, obj); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, len(obj)+64*len(fields))
	if len(obj) > 0 {
		out = append(out, obj[:len(obj)-1]...) // without the closing brace
	} else {
		out = append(out, '{')
	}
	for _, f := range fields {
		if _, dup := rawjson.Lookup(have, string(f.Key)); dup {
			return nil, invalid("meta."+string(f.Key), "given both at top level and in meta")
		}
		if len(out) > 1 && out[len(out)-1] != '{' {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, f.Key...)
		out = append(out, '"', ':')
		out = append(out, f.Value...)
	}
	return append(out, '}'), nil
}

// StringField reads a raw JSON string (null reads as "") for a field named
// field in errors. Like DecodeAliased, the string aliases v when it has no
// escapes. Mappings of foreign shapes use it so their errors read like
// Decode's.
func StringField(field string, v []byte) (string, error) {
	return decoder{alias: true}.text(field, v)
}

// IDField reads an id given as a string or as an integer, keeping the
// integer's exact digits, aliasing v like StringField.
func IDField(field string, v []byte) (string, error) {
	return decoder{alias: true}.idText(field, v)
}

func (d decoder) text(field string, v []byte) (string, error) {
	switch rawjson.KindOf(v) {
	case rawjson.String:
		if d.alias {
			if s, ok := rawjson.TextAlias(v); ok {
				return s, nil
			}
		}
		s, err := rawjson.Text(v)
		if err != nil {
			return "", invalid(field, "%v", err)
		}
		return s, nil
	case rawjson.Null:
		return "", nil
	}
	return "", invalid(field, "must be a string, got %s", rawjson.KindOf(v))
}

// idText accepts a string or an integer id, keeping the integer's exact digits.
func (d decoder) idText(field string, v []byte) (string, error) {
	if rawjson.KindOf(v) == rawjson.Number {
		for _, c := range v {
			if c == '.' || c == 'e' || c == 'E' {
				return "", invalid(field, "must be a string or an integer, got %s", v)
			}
		}
		if d.alias {
			return unsafe.String(unsafe.SliceData(v), len(v)), nil
		}
		return string(v), nil
	}
	return d.text(field, v)
}

func object(field string, v []byte) ([]byte, error) {
	switch rawjson.KindOf(v) {
	case rawjson.Object:
		return v, nil
	case rawjson.Null:
		return nil, nil
	}
	return nil, invalid(field, "must be an object, got %s", rawjson.KindOf(v))
}

// members is subfields for a value whose members the scan may have read
// already (deep, with kids).
func members(dst []rawjson.Field, field string, v []byte, kids []rawjson.Field, deep bool) ([]rawjson.Field, bool, error) {
	if deep {
		return kids, true, nil
	}
	return subfields(dst, field, v)
}

func subfields(dst []rawjson.Field, field string, v []byte) ([]rawjson.Field, bool, error) {
	switch rawjson.KindOf(v) {
	case rawjson.Null:
		return nil, false, nil
	case rawjson.Object:
		fs, err := rawjson.ObjectFields(dst, v)
		return fs, true, err
	}
	return nil, false, invalid(field, "must be an object, got %s", rawjson.KindOf(v))
}

func (d decoder) decodeActor(v []byte, kids []rawjson.Field, deep bool) (*Actor, error) {
	var buf [8]rawjson.Field
	fs, ok, err := members(buf[:0], "actor", v, kids, deep)
	if !ok || err != nil {
		return nil, err
	}
	var a *Actor
	if d.reuse != nil {
		a = &d.reuse.a
		*a = Actor{}
	} else {
		a = new(Actor)
	}
	for _, f := range fs {
		switch string(f.Key) {
		case "type":
			a.Type, err = d.text("actor.type", f.Value)
		case "id":
			a.ID, err = d.idText("actor.id", f.Value)
		case "name":
			a.Name, err = d.text("actor.name", f.Value)
		default:
			err = invalid("actor."+string(f.Key), "unknown field (actor has type, id, name)")
		}
		if err != nil {
			return nil, err
		}
	}
	return a, nil
}

func (d decoder) decodeTarget(v []byte, kids []rawjson.Field, deep bool) (*Target, error) {
	var buf [8]rawjson.Field
	fs, ok, err := members(buf[:0], "target", v, kids, deep)
	if !ok || err != nil {
		return nil, err
	}
	var t *Target
	if d.reuse != nil {
		t = &d.reuse.t
		*t = Target{}
	} else {
		t = new(Target)
	}
	for _, f := range fs {
		switch string(f.Key) {
		case "type":
			t.Type, err = d.text("target.type", f.Value)
		case "id":
			t.ID, err = d.idText("target.id", f.Value)
		case "schema":
			t.Schema, err = d.text("target.schema", f.Value)
		case "table":
			t.Table, err = d.text("target.table", f.Value)
		default:
			err = invalid("target."+string(f.Key), "unknown field (target has type, id, schema, table)")
		}
		if err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (d decoder) decodeContext(c *Context, v []byte, kids []rawjson.Field, deep bool) error {
	var buf [8]rawjson.Field
	fs, _, err := members(buf[:0], "context", v, kids, deep)
	if err != nil {
		return err
	}
	for _, f := range fs {
		var dst *string
		switch string(f.Key) {
		case "host":
			dst = &c.Host
		case "ip":
			dst = &c.IP
		case "user_agent":
			dst = &c.UserAgent
		case "request_id":
			dst = &c.RequestID
		case "endpoint":
			dst = &c.Endpoint
		case "caller":
			dst = &c.Caller
		case "trace_id":
			dst = &c.TraceID
		default:
			return invalid("context."+string(f.Key), "unknown field (context has host, ip, user_agent, request_id, endpoint, caller, trace_id)")
		}
		if *dst, err = d.text("", f.Value); err != nil {
			return invalid("context."+string(f.Key), "%s", err.(*ValidationError).Msg)
		}
	}
	return nil
}

func (d decoder) decodeSeq(v []byte) (*Seq, error) {
	var buf [4]rawjson.Field
	fs, ok, err := subfields(buf[:0], "seq", v)
	if !ok || err != nil {
		return nil, err
	}
	var s *Seq
	if d.reuse != nil {
		s = &d.reuse.s
		*s = Seq{}
	} else {
		s = new(Seq)
	}
	for _, f := range fs {
		switch string(f.Key) {
		case "stream":
			if s.Stream, err = d.text("seq.stream", f.Value); err != nil {
				return nil, err
			}
		case "n":
			if rawjson.KindOf(f.Value) != rawjson.Number {
				return nil, invalid("seq.n", "must be a positive integer")
			}
			if s.N, err = strconv.ParseUint(unsafe.String(unsafe.SliceData(f.Value), len(f.Value)), 10, 64); err != nil {
				return nil, invalid("seq.n", "must be a positive integer, got %s", f.Value)
			}
		default:
			return nil, invalid("seq."+string(f.Key), "unknown field (seq has stream, n)")
		}
	}
	return s, nil
}
