package index

import (
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// keyDecoder decodes of a stored line only what the index keeps: the
// fields eachPosting and counts read. The lines come from the WAL or the
// archive, which hold only events kansa has decoded and checked, so it
// checks no more than it reads, and leaves the rest (changes, context's
// host, the received time...) unread. Strings alias the line; the event
// is valid until the next call.
type keyDecoder struct {
	e      event.Event
	a      event.Actor
	t      event.Target
	fields [48]rawjson.Field
}

// keyDeep picks the objects keyDecoder reads into.
func keyDeep(key []byte) bool {
	switch string(key) {
	case "actor", "target", "context":
		return true
	}
	return false
}

func (d *keyDecoder) decode(line []byte) (*event.Event, error) {
	fs, err := rawjson.FieldsDeep(d.fields[:0], line, keyDeep)
	if err != nil {
		return nil, err
	}
	e := &d.e
	*e = event.Event{}
	for i := 0; i < len(fs); i++ {
		f := fs[i]
		kids := rawjson.Members(fs, i)
		i += len(kids)
		if f.KeyEscaped {
			continue
		}
		v := f.Value
		switch string(f.Key) {
		case "id":
			e.ID, err = event.IDField("id", v)
		case "time":
			var s string
			if s, err = event.StringField("time", v); err == nil {
				e.Time, err = event.ParseTime(s)
			}
		case "action":
			e.Action, err = event.StringField("action", v)
		case "source":
			e.Source, err = event.StringField("source", v)
		case "tenant":
			e.Tenant, err = event.StringField("tenant", v)
		case "outcome":
			e.Outcome, err = event.StringField("outcome", v)
		case "actor":
			e.Actor = nil // null
			if f.Deep {
				d.a = event.Actor{}
				d.a.Type, d.a.ID, err = refFields(kids, "actor.type", "actor.id")
				e.Actor = &d.a
			}
		case "target":
			e.Target = nil
			if f.Deep {
				d.t = event.Target{}
				d.t.Type, d.t.ID, err = refFields(kids, "target.type", "target.id")
				e.Target = &d.t
			}
		case "context":
			for _, k := range kids {
				switch string(k.Key) {
				case "user_agent":
					e.Context.UserAgent, err = event.StringField("context.user_agent", k.Value)
				case "request_id":
					e.Context.RequestID, err = event.StringField("context.request_id", k.Value)
				}
				if err != nil {
					break
				}
			}
		}
		if err != nil {
			return nil, err
		}
	}
	return e, nil
}

// refFields reads an actor's or a target's type and id.
func refFields(kids []rawjson.Field, typeField, idField string) (typ, id string, err error) {
	for _, k := range kids {
		switch string(k.Key) {
		case "type":
			typ, err = event.StringField(typeField, k.Value)
		case "id":
			id, err = event.IDField(idField, k.Value)
		}
		if err != nil {
			return "", "", err
		}
	}
	return typ, id, nil
}
