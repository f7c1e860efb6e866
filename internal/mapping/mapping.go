package mapping

import (
	"errors"
	"fmt"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// Format names a line shape.
type Format string

const (
	Auto          Format = "auto"          // kansa's shape if it has "schema", AuditLoggable if "record" is an object, else kansa's
	Kansa         Format = "kansa"         // kansa.audit/v1
	AuditLoggable Format = "auditloggable" // the AuditLoggable gem's JSON line
)

// ParseFormat checks a configured format name; "" means Auto.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case "":
		return Auto, nil
	case Auto, Kansa, AuditLoggable:
		return f, nil
	}
	return "", fmt.Errorf("unknown format %q (want auto, kansa or auditloggable)", s)
}

// Defaults are what an input stamps on events that do not say.
type Defaults struct {
	Source string // required: the input's source name, e.g. "stdin" or "app:kakari"
	Tenant string // "" means event.DefaultTenant
}

// Error is a line that could not become an event. Type is the short, stable
// name used in metrics and error-output keys.
type Error struct {
	Type string // "decode" (not JSON), "map" (JSON of the wrong shape), "invalid" (an event that fails validation)
	Err  error
}

func (e *Error) Error() string { return e.Type + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// ErrorType returns the error-output type of err: Error.Type, or "internal".
func ErrorType(err error) string {
	var me *Error
	if errors.As(err, &me) {
		return me.Type
	}
	return "internal"
}

// Map turns one line into a validated event. The event aliases line (its raw
// fields point into it) and keeps a reference to it as Original for foreign
// shapes: the caller must not modify line while the event is in use.
// received_at is left for the WAL stage to set.
func Map(line []byte, f Format, d Defaults) (*event.Event, error) {
	var buf [16]rawjson.Field
	fields, err := rawjson.Fields(buf[:0], line)
	if err != nil {
		return nil, &Error{"decode", err}
	}
	if f == Auto {
		f = detect(fields)
	}
	var e *event.Event
	switch f {
	case AuditLoggable:
		e, err = mapAuditLoggable(line, fields)
	default:
		e, err = event.DecodeFields(fields)
		if err == nil && e.Actor == nil && e.Target == nil && e.Action == "" {
			err = errors.New("no action, actor or target: not an event")
		}
		if e != nil {
			e.ReceivedAt = time.Time{}
		}
	}
	if err != nil {
		var ve *event.ValidationError
		if errors.As(err, &ve) {
			return nil, &Error{"invalid", err}
		}
		return nil, &Error{"map", err}
	}
	if e.Source == "" {
		e.Source = d.Source
	}
	if e.Tenant == "" {
		e.Tenant = d.Tenant
	}
	e.Normalize()
	if e.ID == "" {
		e.ID = event.DeriveID([]byte(e.Source), line)
	}
	if err := e.Validate(); err != nil {
		return nil, &Error{"invalid", err}
	}
	return e, nil
}

func detect(fields []rawjson.Field) Format {
	if _, ok := rawjson.Lookup(fields, "schema"); ok {
		return Kansa
	}
	if v, ok := rawjson.Lookup(fields, "record"); ok && rawjson.KindOf(v) == rawjson.Object {
		return AuditLoggable
	}
	return Kansa
}

func invalid(field, format string, args ...any) error {
	return &event.ValidationError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// mapAuditLoggable maps
//
//	timestamp → time; record.auditable → target; record.user → actor (null:
//	no actor); record.action → action (destroy → delete, the original kept in
//	meta.original_action); record.changes (a JSON string or an object) →
//	changes; record.remote_address → context.ip; record.request_uuid →
//	context.request_id.
//
// Every other field, of the line or of record, goes to meta under its own
// name.
func mapAuditLoggable(line []byte, fields []rawjson.Field) (*event.Event, error) {
	e := &event.Event{Original: line}
	var meta []rawjson.Field
	var record []byte
	for _, f := range fields {
		switch string(f.Key) {
		case "timestamp":
			s, err := event.StringField("timestamp", f.Value)
			if err != nil {
				return nil, err
			}
			if e.Time, err = event.ParseTime(s); err != nil {
				return nil, invalid("timestamp", "%v", err)
			}
		case "record":
			record = f.Value
		default:
			meta = append(meta, f)
		}
	}
	if e.Time.IsZero() {
		return nil, invalid("timestamp", "required")
	}
	if rawjson.KindOf(record) != rawjson.Object {
		return nil, invalid("record", "must be an object")
	}
	var rbuf [16]rawjson.Field
	rfields, err := rawjson.ObjectFields(rbuf[:0], record)
	if err != nil {
		return nil, err
	}
	for _, f := range rfields {
		v := f.Value
		switch string(f.Key) {
		case "auditable":
			typ, id, ok, err := typeAndID("record.auditable", v)
			if err != nil {
				return nil, err
			}
			if ok {
				e.Target = &event.Target{Type: typ, ID: id}
			}
		case "user":
			typ, id, ok, err := typeAndID("record.user", v)
			if err != nil {
				return nil, err
			}
			if ok {
				e.Actor = &event.Actor{Type: typ, ID: id}
				if name, ok := rawjson.Get(v, "name"); ok && rawjson.KindOf(name) == rawjson.String {
					e.Actor.Name, _ = rawjson.Text(name)
				}
			}
		case "action":
			a, err := event.StringField("record.action", v)
			if err != nil {
				return nil, err
			}
			if a == "" {
				return nil, invalid("record.action", "required")
			}
			canon, changed := event.CanonicalAction(a)
			e.Action = canon
			if changed {
				meta = append(meta, rawjson.Field{Key: []byte("original_action"), Value: v})
			}
		case "changes":
			if e.Changes, err = changesField(v); err != nil {
				return nil, err
			}
		case "remote_address":
			if e.Context.IP, err = event.StringField("record.remote_address", v); err != nil {
				return nil, err
			}
		case "request_uuid":
			if e.Context.RequestID, err = event.StringField("record.request_uuid", v); err != nil {
				return nil, err
			}
		default:
			meta = append(meta, f)
		}
	}
	if e.Action == "" {
		return nil, invalid("record.action", "required")
	}
	if len(meta) > 0 {
		if e.Meta, err = event.MergeObject(nil, dedupeKeys(meta)); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// dedupeKeys renames a record field that collides with a top-level one
// ("record.comment" next to "comment"), so both are kept.
func dedupeKeys(fs []rawjson.Field) []rawjson.Field {
	seen := make(map[string]bool, len(fs))
	for i := range fs {
		k := string(fs[i].Key)
		for seen[k] {
			k = "record." + k
		}
		seen[k] = true
		fs[i].Key = []byte(k)
	}
	return fs
}

// typeAndID reads {"id":…, "type":…}; null means absent.
func typeAndID(field string, v []byte) (typ, id string, ok bool, err error) {
	switch rawjson.KindOf(v) {
	case rawjson.Null:
		return "", "", false, nil
	case rawjson.Object:
	default:
		return "", "", false, invalid(field, "must be an object or null, got %s", rawjson.KindOf(v))
	}
	var buf [8]rawjson.Field
	fs, err := rawjson.ObjectFields(buf[:0], v)
	if err != nil {
		return "", "", false, invalid(field, "%v", err)
	}
	rawID, ok := rawjson.Lookup(fs, "id")
	if !ok || rawjson.KindOf(rawID) == rawjson.Null {
		return "", "", false, invalid(field+".id", "required")
	}
	if id, err = event.IDField(field+".id", rawID); err != nil {
		return "", "", false, err
	}
	rawType, ok := rawjson.Lookup(fs, "type")
	if !ok {
		return "", "", false, invalid(field+".type", "required")
	}
	if typ, err = event.StringField(field+".type", rawType); err != nil {
		return "", "", false, err
	}
	if typ == "" {
		return "", "", false, invalid(field+".type", "required")
	}
	return typ, id, true, nil
}

// changesField accepts an object, a JSON string holding an object (what
// AuditLoggable writes), or null.
func changesField(v []byte) ([]byte, error) {
	switch rawjson.KindOf(v) {
	case rawjson.Object:
		return v, nil
	case rawjson.Null:
		return nil, nil
	case rawjson.String:
		inner, err := rawjson.Unquote(nil, v)
		if err != nil {
			return nil, invalid("record.changes", "%v", err)
		}
		obj, err := rawjson.Trim(inner)
		if err != nil {
			return nil, invalid("record.changes", "string is not JSON: %v", err)
		}
		switch rawjson.KindOf(obj) {
		case rawjson.Object:
			return obj, nil
		case rawjson.Null:
			return nil, nil
		}
		return nil, invalid("record.changes", "string holds %s, want an object", rawjson.KindOf(obj))
	}
	return nil, invalid("record.changes", "must be an object or a JSON string of one, got %s", rawjson.KindOf(v))
}
