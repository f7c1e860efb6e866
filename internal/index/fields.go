package index

import (
	"bytes"
	"errors"

	"github.com/kansa-audit/kansa/internal/event"
)

// keyDecoder decodes of a stored line only what the index keeps: the
// fields eachPosting and counts read. The lines come from the WAL or the
// archive, which hold only events kansa has decoded and checked, so it
// checks no more than it reads: it walks the line once, finding where each
// value ends without validating what it skips (changes, context's host,
// the received time...), and decodes the values it keeps as the full
// decoder does. A line that is not JSON is refused or read in part, never
// read past its end. Strings alias the line; the event is valid until the
// next call.
type keyDecoder struct {
	e event.Event
	a event.Actor
	t event.Target
}

var errNotObject = errors.New("index: the stored line is not a JSON object")

func (d *keyDecoder) decode(line []byte) (*event.Event, error) {
	e := &d.e
	*e = event.Event{}
	l := lax{data: line}
	if !l.open() {
		return nil, errNotObject
	}
	var err error
	for err == nil {
		key, ok := l.next()
		if !ok {
			break
		}
		switch string(key) {
		case "id":
			e.ID, err = event.IDField("id", l.value())
		case "time":
			var s string
			if s, err = event.StringField("time", l.value()); err == nil {
				e.Time, err = event.ParseTime(s)
			}
		case "action":
			e.Action, err = event.StringField("action", l.value())
		case "source":
			e.Source, err = event.StringField("source", l.value())
		case "tenant":
			e.Tenant, err = event.StringField("tenant", l.value())
		case "outcome":
			e.Outcome, err = event.StringField("outcome", l.value())
		case "actor":
			e.Actor = nil // null
			if l.openOrSkip() {
				d.a = event.Actor{}
				d.a.Type, d.a.ID, err = refFields(&l, "actor.type", "actor.id")
				e.Actor = &d.a
			}
		case "target":
			e.Target = nil
			if l.openOrSkip() {
				d.t = event.Target{}
				d.t.Type, d.t.ID, err = refFields(&l, "target.type", "target.id")
				e.Target = &d.t
			}
		case "context":
			if !l.openOrSkip() {
				break
			}
			for err == nil {
				k, ok := l.next()
				if !ok {
					break
				}
				switch string(k) {
				case "user_agent":
					e.Context.UserAgent, err = event.StringField("context.user_agent", l.value())
				case "request_id":
					e.Context.RequestID, err = event.StringField("context.request_id", l.value())
				default:
					l.value()
				}
			}
		default:
			l.value()
		}
	}
	if err != nil {
		return nil, err
	}
	if l.err != nil {
		return nil, l.err
	}
	return e, nil
}

// refFields reads an actor's or a target's type and id, the members of
// the object l has opened.
func refFields(l *lax, typeField, idField string) (typ, id string, err error) {
	for err == nil {
		k, ok := l.next()
		if !ok {
			break
		}
		switch string(k) {
		case "type":
			typ, err = event.StringField(typeField, l.value())
		case "id":
			id, err = event.IDField(idField, l.value())
		default:
			l.value()
		}
	}
	return typ, id, err
}

// lax walks the members of JSON objects, finding where values end without
// checking them. A key with escapes is returned raw, so it matches none
// of the names keyDecoder reads, as rawjson leaves such keys unread.
type lax struct {
	data []byte
	i    int // the next byte to read
	err  error
}

var errLax = errors.New("index: the stored line is not valid JSON")

func (l *lax) ws() {
	for l.i < len(l.data) && l.data[l.i] <= ' ' {
		l.i++
	}
}

// open enters the object at l.i and returns true, or returns false and
// leaves any other value unread.
func (l *lax) open() bool {
	l.ws()
	if l.err == nil && l.i < len(l.data) && l.data[l.i] == '{' {
		l.i++
		return true
	}
	return false
}

// openOrSkip is open that reads past any other value.
func (l *lax) openOrSkip() bool {
	if l.open() {
		return true
	}
	l.value()
	return false
}

// next reads the next member's key and the colon after it, leaving l.i at
// its value; it returns false at the end of the object (having read its
// closing brace) or on an error (l.err).
func (l *lax) next() ([]byte, bool) {
	if l.err != nil {
		return nil, false
	}
	l.ws()
	if l.i < len(l.data) && l.data[l.i] == ',' {
		l.i++
		l.ws()
	}
	if l.i >= len(l.data) {
		l.err = errLax
		return nil, false
	}
	if l.data[l.i] == '}' {
		l.i++
		return nil, false
	}
	end := laxString(l.data, l.i)
	if end < 0 {
		l.err = errLax
		return nil, false
	}
	key := l.data[l.i+1 : end-1]
	l.i = end
	l.ws()
	if l.i >= len(l.data) || l.data[l.i] != ':' {
		l.err = errLax
		return nil, false
	}
	l.i++
	l.ws()
	return key, true
}

// value returns the value at l.i and reads past it.
func (l *lax) value() []byte {
	if l.err != nil {
		return nil
	}
	start := l.i
	end := laxValue(l.data, l.i)
	if end < 0 {
		l.err = errLax
		return nil
	}
	l.i = end
	return l.data[start:end]
}

// laxString returns the end of the string at data[i] (past its closing
// quote), or -1 when data[i] is not a quote or the string does not end.
func laxString(data []byte, i int) int {
	if i >= len(data) || data[i] != '"' {
		return -1
	}
	for i++; ; i++ {
		j := bytes.IndexByte(data[i:], '"')
		if j < 0 {
			return -1
		}
		i += j
		k := i // data[k:i] are the backslashes before the quote
		for data[k-1] == '\\' {
			k--
		}
		if (i-k)%2 == 0 {
			return i + 1
		}
	}
}

// laxValue returns the end of the value at data[i], or -1 when a string,
// object or array in it does not end.
func laxValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch data[i] {
	case '"':
		return laxString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				if i = laxString(data, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	}
	for i < len(data) { // a number, true, false or null
		switch data[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
