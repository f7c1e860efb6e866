package audit

import (
	"crypto/rand"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"time"
	"unicode/utf8"
)

// encoder writes events as kansa's JSON lines. It belongs to the writer
// goroutine and is not safe for concurrent use.
type encoder struct {
	source, tenant, host string
	stream               string
	rng                  *mrand.ChaCha8
	callers              map[uintptr]string // resolved caller by first pc

	// A ChangeSet appends through yield, made once so that encoding an
	// event allocates no closure: yield appends to csDst, after csMark.
	yield  func(Change)
	csDst  []byte
	csMark int
}

func newEncoder(cfg Config, stream string) *encoder {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // crypto/rand.Read never fails on supported platforms
	c := &encoder{
		source:  cfg.Source,
		tenant:  cfg.Tenant,
		host:    cfg.Host,
		stream:  stream,
		rng:     mrand.NewChaCha8(seed),
		callers: make(map[uintptr]string),
	}
	c.yield = func(ch Change) { c.csDst = appendChange(c.csDst, c.csMark, &ch) }
	return c
}

// newStreamID returns a random id for a Logger's seq stream.
func newStreamID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// appendUUIDv7 appends a UUIDv7 (RFC 9562) for time t.
func (c *encoder) appendUUIDv7(dst []byte, t time.Time) []byte {
	var u [16]byte
	ms := uint64(t.UnixMilli())
	binary.BigEndian.PutUint64(u[0:8], ms<<16)
	binary.BigEndian.PutUint64(u[8:16], c.rng.Uint64())
	r := c.rng.Uint64()
	u[6] = 0x70 | byte(r)&0x0f
	u[7] = byte(r >> 8)
	u[8] = 0x80 | u[8]&0x3f
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], u[10:16])
	dst = append(dst, '"')
	dst = append(dst, s[:]...)
	return append(dst, '"')
}

func (c *encoder) head(dst []byte, id string, t time.Time, action string) []byte {
	dst = append(dst, `{"schema":"`+Schema+`","id":`...)
	if id != "" {
		dst = appendString(dst, id)
	} else {
		dst = c.appendUUIDv7(dst, t)
	}
	dst = append(dst, `,"time":"`...)
	dst = t.AppendFormat(dst, "2006-01-02T15:04:05.999999Z07:00")
	dst = append(dst, `","action":`...)
	return appendString(dst, action)
}

// event appends en as one JSON line.
func (c *encoder) event(dst []byte, en *entry) []byte {
	e, s := &en.ev, &en.scope
	t := e.Time
	if t.IsZero() {
		t = en.at
	}
	dst = c.head(dst, e.ID, t, e.Action)
	if e.Outcome == Failure {
		dst = append(dst, `,"outcome":"failure"`...)
	}
	actor := e.Actor
	if actor.IsZero() {
		actor = s.Actor
	}
	if !actor.IsZero() {
		dst = append(dst, `,"actor":{"type":`...)
		dst = appendString(dst, actor.Type)
		dst = append(dst, `,"id":`...)
		dst = appendString(dst, actor.ID)
		if actor.Name != "" {
			dst = append(dst, `,"name":`...)
			dst = appendString(dst, actor.Name)
		}
		dst = append(dst, '}')
	}
	if tg := e.Target; !tg.IsZero() {
		dst = append(dst, `,"target":{"type":`...)
		dst = appendString(dst, tg.Type)
		dst = appendOpt(dst, "id", tg.ID) // none: rows not known one by one
		dst = appendOpt(dst, "schema", tg.Schema)
		dst = appendOpt(dst, "table", tg.Table)
		dst = append(dst, '}')
	}
	if len(e.Changes) > 0 || e.ChangeSet != nil {
		const chKey = `,"changes":{`
		dst = append(dst, chKey...)
		mark := len(dst)
		for i := range e.Changes {
			dst = appendChange(dst, mark, &e.Changes[i])
		}
		if e.ChangeSet != nil {
			c.csDst, c.csMark = dst, mark
			e.ChangeSet.EachChange(c.yield)
			dst, c.csDst = c.csDst, nil
		}
		if len(dst) == mark {
			dst = dst[:mark-len(chKey)]
		} else {
			dst = append(dst, '}')
		}
	}
	caller := s.Caller
	if caller == "" && s.Endpoint == "" && en.npcs > 0 {
		caller = c.caller(en.pcs[:en.npcs])
	}
	host := s.Host
	if host == "" {
		host = c.host
	}
	const ctxKey = `,"context":`
	dst = append(dst, ctxKey...)
	mark := len(dst)
	dst = appendOpt(dst, "host", host)
	dst = appendOpt(dst, "ip", s.IP)
	dst = appendOpt(dst, "user_agent", s.UserAgent)
	dst = appendOpt(dst, "request_id", s.RequestID)
	dst = appendOpt(dst, "endpoint", s.Endpoint)
	dst = appendOpt(dst, "caller", caller)
	dst = appendOpt(dst, "trace_id", s.TraceID)
	if len(dst) == mark {
		dst = dst[:mark-len(ctxKey)]
	} else {
		dst[mark] = '{' // in place of the first field's leading comma
		dst = append(dst, '}')
	}
	dst = c.tail(dst, s.Tenant, en.n)
	if e.Error != "" || len(e.Meta) > 0 {
		dst = append(dst, `,"meta":`...)
		dst = appendMeta(dst, e.Error, e.Meta)
	}
	return append(dst, '}', '\n')
}

// appendChange appends one member of the changes object that starts at
// mark.
func appendChange(dst []byte, mark int, ch *Change) []byte {
	if len(dst) > mark {
		dst = append(dst, ',')
	}
	dst = appendString(dst, ch.Column)
	dst = append(dst, ':')
	if !ch.HasOld {
		return appendValue(dst, ch.New)
	}
	dst = append(dst, '[')
	dst = appendValue(dst, ch.Old)
	dst = append(dst, ',')
	dst = appendValue(dst, ch.New)
	return append(dst, ']')
}

// tail appends source, tenant and seq.
func (c *encoder) tail(dst []byte, tenant string, n uint64) []byte {
	dst = append(dst, `,"source":`...)
	dst = appendString(dst, c.source)
	if tenant == "" {
		tenant = c.tenant
	}
	dst = appendOpt(dst, "tenant", tenant)
	dst = append(dst, `,"seq":{"stream":`...)
	dst = appendString(dst, c.stream)
	dst = append(dst, `,"n":`...)
	dst = strconv.AppendUint(dst, n, 10)
	return append(dst, '}')
}

// heartbeat appends a heartbeat carrying the stream's last number.
func (c *encoder) heartbeat(dst []byte, last uint64, t time.Time) []byte {
	dst = c.head(dst, "", t, ActionHeartbeat)
	if c.host != "" {
		dst = append(dst, `,"context":{"host":`...)
		dst = appendString(dst, c.host)
		dst = append(dst, '}')
	}
	dst = c.tail(dst, "", last)
	return append(dst, '}', '\n')
}

func (c *encoder) caller(pcs []uintptr) string {
	if name, ok := c.callers[pcs[0]]; ok {
		return name
	}
	name := resolveCaller(pcs)
	if len(c.callers) < 4096 {
		c.callers[pcs[0]] = name
	}
	return name
}

func appendOpt(dst []byte, key, v string) []byte {
	if v == "" {
		return dst
	}
	dst = append(dst, ',', '"')
	dst = append(dst, key...)
	dst = append(dst, '"', ':')
	return appendString(dst, v)
}

func appendMeta(dst []byte, errText string, meta map[string]any) []byte {
	m := meta
	if errText != "" {
		m = make(map[string]any, len(meta)+1)
		for k, v := range meta {
			m[k] = v
		}
		m["error"] = errText
	}
	b, err := json.Marshal(m)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"error": errText, "meta_error": err.Error()})
	}
	return append(dst, b...)
}

// appendValue appends v as JSON; see Change for the types it knows.
func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case string:
		return appendString(dst, x)
	case bool:
		return strconv.AppendBool(dst, x)
	case int:
		return strconv.AppendInt(dst, int64(x), 10)
	case int8:
		return strconv.AppendInt(dst, int64(x), 10)
	case int16:
		return strconv.AppendInt(dst, int64(x), 10)
	case int32:
		return strconv.AppendInt(dst, int64(x), 10)
	case int64:
		return strconv.AppendInt(dst, x, 10)
	case uint:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint8:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint16:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint32:
		return strconv.AppendUint(dst, uint64(x), 10)
	case uint64:
		return strconv.AppendUint(dst, x, 10)
	case float32:
		return appendFloat(dst, float64(x), 32)
	case float64:
		return appendFloat(dst, x, 64)
	case time.Time:
		dst = append(dst, '"')
		dst = x.AppendFormat(dst, time.RFC3339Nano)
		return append(dst, '"')
	case *time.Time:
		if x == nil {
			return append(dst, "null"...)
		}
		return appendValue(dst, *x)
	case *string:
		if x == nil {
			return append(dst, "null"...)
		}
		return appendString(dst, *x)
	case json.RawMessage:
		if len(x) == 0 || !json.Valid(x) {
			return append(dst, "null"...)
		}
		return append(dst, x...)
	case redacted:
		return append(dst, `"[REDACTED]"`...)
	case driver.Valuer:
		dv, err := x.Value()
		if err != nil {
			return appendString(dst, "!value error: "+err.Error())
		}
		if _, again := dv.(driver.Valuer); again {
			return appendMarshal(dst, dv)
		}
		return appendValue(dst, dv)
	}
	return appendMarshal(dst, v)
}

func appendMarshal(dst []byte, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		return appendString(dst, "!json error: "+err.Error())
	}
	return append(dst, b...)
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) { // JSON has neither
		return appendString(dst, strconv.FormatFloat(f, 'g', -1, bits))
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
