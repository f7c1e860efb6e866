// Package synth generates a deterministic synthetic audit workload for
// benchmarks and tests of search: N events over a span of days, in time
// order, from 1,000,000 actors drawn with skew as floor(1,000,000 × U³) for
// uniform U (a few actors very busy, most quiet), about 5,000,000 targets
// across 5 types, about 50 actions, about 500 user agents and changes of
// 20–200 bytes. Lookup keys for benchmarks are drawn from the same
// distributions (Keys).
//
// Events are produced in chunks of ChunkSize, each from its own seeded
// generator, so any chunk can be made on its own and chunks can be made in
// parallel: the same Config gives the same bytes, however they are made.
package synth

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// ChunkSize is how many events one generator makes; requests never span
// two chunks.
const ChunkSize = 1 << 16

// Config describes a workload. The zero value of a field takes the default.
type Config struct {
	Seed   uint64
	Events uint64 // default 1,000,000
	// Start is the first event's time; default 2024-01-01T00:00:00Z.
	Start time.Time
	// Days is the span the events cover; default 90.
	Days int
	// Actors is the number of users; default 1,000,000.
	Actors uint64
	// TargetsPerType is the number of records of each of the 5 target
	// types; default 1,000,000 (5,000,000 targets).
	TargetsPerType uint64
}

func (c Config) withDefaults() Config {
	if c.Events == 0 {
		c.Events = 1_000_000
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Days == 0 {
		c.Days = 90
	}
	if c.Actors == 0 {
		c.Actors = 1_000_000
	}
	if c.TargetsPerType == 0 {
		c.TargetsPerType = 1_000_000
	}
	return c
}

// TargetTypes are the 5 record types, with the columns their changes use.
var TargetTypes = []struct {
	Name, Table string
	Cols        []string
}{
	{"Order", "orders", []string{"status", "total_cents", "shipping_address_id", "note", "paid_at", "coupon_code"}},
	{"User", "users", []string{"email", "name", "role", "locale", "last_sign_in_at", "phone"}},
	{"Invoice", "invoices", []string{"state", "amount_cents", "due_on", "pdf_url", "sent_at"}},
	{"Product", "products", []string{"title", "price_cents", "stock", "visible", "description", "sku"}},
	{"Subscription", "subscriptions", []string{"plan", "renews_on", "seats", "status", "canceled_at"}},
}

// Actions: create, update and delete make up 70% of events; the rest are
// 47 dotted verbs.
var Actions = func() []string {
	a := []string{"create", "update", "delete"}
	for _, obj := range []string{"user", "order", "invoice", "product", "subscription", "secret", "export", "session", "api_key", "role", "webhook", "report"} {
		for _, verb := range []string{"view", "export", "approve", "refund"} {
			if len(a) == 50 {
				return a
			}
			a = append(a, obj+"."+verb)
		}
	}
	return a
}()

// Generator makes one workload's events.
type Generator struct {
	cfg    Config
	step   float64 // mean µs between events
	uas    []string
	routes []string
	hosts  []string
}

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	cfg = cfg.withDefaults()
	g := &Generator{cfg: cfg, step: float64(cfg.Days) * 86400e6 / float64(cfg.Events)}
	r := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	browsers := []string{"Chrome", "Firefox", "Safari", "Edg", "OPR"}
	systems := []string{"Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64", "iPhone; CPU iPhone OS 17_4 like Mac OS X", "Linux; Android 14; Pixel 8"}
	seen := map[string]bool{}
	for len(g.uas) < 495 {
		ua := fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) %s/%d.0.%d.%d",
			systems[r.IntN(len(systems))], browsers[r.IntN(len(browsers))], 100+r.IntN(30), r.IntN(7000), r.IntN(200))
		if !seen[ua] {
			seen[ua] = true
			g.uas = append(g.uas, ua)
		}
	}
	g.uas = append(g.uas, "okhttp/4.12.0", "python-requests/2.31.0", "curl/8.5.0", "Go-http-client/1.1", "kansa-worker/1.0")
	for _, tt := range TargetTypes {
		base := "/" + tt.Table
		g.routes = append(g.routes, "GET "+base+"/{id}", "PATCH "+base+"/{id}", "POST "+base, "DELETE "+base+"/{id}",
			"GET /admin"+base+"/{id}", "PATCH /admin"+base+"/{id}", "POST /api/v2"+base, "PATCH /api/v2"+base+"/{id}")
	}
	for i := range 12 {
		g.hosts = append(g.hosts, fmt.Sprintf("web-%02d.prod.internal", i))
	}
	return g
}

// Config returns the generator's configuration, defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Chunks is the number of chunks of the workload.
func (g *Generator) Chunks() int { return int((g.cfg.Events + ChunkSize - 1) / ChunkSize) }

// Chunk appends chunk k's events to dst, each one line in kansa's stored
// encoding without its newline, and returns the lines.
func (g *Generator) Chunk(dst [][]byte, k int) [][]byte {
	first := uint64(k) * ChunkSize
	n := min(ChunkSize, g.cfg.Events-first)
	c := chunk{g: g, r: rand.New(rand.NewPCG(g.cfg.Seed, uint64(k)+1)), i: first}
	var buf []byte
	for range n {
		if cap(buf)-len(buf) < 4<<10 { // lines share 1 MiB blocks
			buf = make([]byte, 0, 1<<20)
		}
		start := len(buf)
		buf = c.next(buf)
		dst = append(dst, buf[start:len(buf):len(buf)])
	}
	return dst
}

// chunk is one chunk's generator state.
type chunk struct {
	g *Generator
	r *rand.Rand
	i uint64 // index of the next event in the workload

	// the request in progress: the events left, and what they share
	left    int
	actor   uint64
	request string
	route   string
	host    string
	e       event.Event
	a       event.Actor
	t       event.Target
}

// actorOf draws an actor with the workload's skew: floor(n × U³).
func actorOf(r *rand.Rand, n uint64) uint64 {
	u := r.Float64()
	return min(uint64(float64(n)*u*u*u), n-1)
}

// ActorID names actor n.
func ActorID(n uint64) string { return strconv.FormatUint(n, 10) }

func (c *chunk) next(dst []byte) []byte {
	g, r := c.g, c.r
	if c.left == 0 {
		c.left = 1 + r.IntN(4)
		c.actor = actorOf(r, g.cfg.Actors)
		c.request = uuid(r)
		c.route = g.routes[r.IntN(len(g.routes))]
		c.host = g.hosts[r.IntN(len(g.hosts))]
	}
	c.left--
	// Time advances evenly with jitter, so events are in time order.
	at := g.cfg.Start.Add(time.Duration((float64(c.i) + r.Float64()*0.9) * g.step * float64(time.Microsecond))).Truncate(time.Microsecond)
	c.i++

	e := &c.e
	*e = event.Event{ID: uuid7(r, at), Time: at, Source: "app:shop", Tenant: event.DefaultTenant, Outcome: event.OutcomeSuccess}
	tt := r.IntN(len(TargetTypes))
	typ := TargetTypes[tt]
	c.t = event.Target{Type: typ.Name, ID: strconv.FormatUint(1+r.Uint64N(g.cfg.TargetsPerType), 10), Table: typ.Table}
	e.Target = &c.t
	c.a = event.Actor{Type: "User", ID: ActorID(c.actor)}
	e.Actor = &c.a
	switch p := r.IntN(100); {
	case p < 35:
		e.Action = "update"
		e.Changes = changes(r, typ.Cols, true)
	case p < 55:
		e.Action = "create"
		e.Changes = changes(r, typ.Cols, false)
	case p < 70:
		e.Action = "delete"
		e.Changes = changes(r, typ.Cols, false)
	default:
		e.Action = Actions[3+r.IntN(len(Actions)-3)]
		if r.IntN(4) == 0 {
			e.Changes = changes(r, typ.Cols[:1], true)
		}
	}
	if r.IntN(50) == 0 {
		e.Outcome = event.OutcomeFailure
	}
	// An actor keeps an address and mostly a user agent.
	h := mix(c.actor)
	e.Context = event.Context{
		IP:        fmt.Sprintf("%d.%d.%d.%d", 10+h%200, h>>8&255, h>>16&255, 1+h>>24%254),
		UserAgent: g.uas[(h>>32+uint64(r.IntN(3)/2))%uint64(len(g.uas))],
		RequestID: c.request,
		Endpoint:  c.route,
		Host:      c.host,
	}
	e.ReceivedAt = at.Add(time.Duration(1+r.IntN(2000)) * time.Millisecond)
	return e.AppendJSON(dst)
}

// changes makes a changes object of 20–200 bytes over some of cols:
// {col: [old, new]} for an update, {col: value} otherwise.
func changes(r *rand.Rand, cols []string, update bool) []byte {
	n := 1 + r.IntN(min(3, len(cols)))
	b := []byte{'{'}
	for j, off := 0, r.IntN(len(cols)); j < n; j++ {
		if j > 0 {
			b = append(b, ',')
		}
		b = rawjson.AppendQuote(b, cols[(off+j)%len(cols)])
		b = append(b, ':')
		if update {
			b = append(b, '[')
			b = value(r, b)
			b = append(b, ',')
			b = value(r, b)
			b = append(b, ']')
		} else {
			b = value(r, b)
		}
	}
	for len(b) < 19 { // at least 20 bytes with the closing brace
		b = append(b, `,"rev":`...)
		b = strconv.AppendInt(b, int64(r.IntN(1000)), 10)
	}
	if len(b) > 199 {
		b = b[:0]
		b = append(b, `{"note":`...)
		b = value(r, b)
	}
	return append(b, '}')
}

var words = []string{"paid", "shipped", "pending", "active", "canceled", "trial", "gold", "silver", "ja", "en", "admin", "member", "viewer", "blue", "large"}

// value appends a random JSON value: a number, a word, an email or a short
// text.
func value(r *rand.Rand, b []byte) []byte {
	switch r.IntN(5) {
	case 0:
		return strconv.AppendInt(b, int64(r.IntN(1_000_000)), 10)
	case 1:
		return rawjson.AppendQuote(b, words[r.IntN(len(words))])
	case 2:
		return rawjson.AppendQuote(b, fmt.Sprintf("user%d@example.com", r.IntN(1_000_000)))
	case 3:
		return rawjson.AppendQuote(b, fmt.Sprintf("%s %s %d", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(100)))
	}
	return append(b, "null"...)
}

// uuid returns a random UUID (version 4) from r.
func uuid(r *rand.Rand) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], r.Uint64())
	binary.BigEndian.PutUint64(b[8:], r.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

// uuid7 returns a UUIDv7 for time t, its random bits from r.
func uuid7(r *rand.Rand, t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMilli())<<16|r.Uint64()&0xffff)
	binary.BigEndian.PutUint64(b[8:], r.Uint64())
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return formatUUID(b)
}

func formatUUID(b [16]byte) string {
	const hex = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&15]
		j += 2
	}
	return string(s[:])
}

// mix is a 64-bit finalizer (splitmix64) for per-actor attributes.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Key is a lookup for benchmarks.
type Key struct {
	Kind string // "actor", "target" or "request"
	// Type and ID name the actor or target; ID alone is a request id.
	Type, ID string
}

// Keys returns n lookups of kind drawn from the workload's distributions:
// actors with the same skew as the events', targets uniformly over the
// records, request ids of events chosen uniformly (so each exists).
func (g *Generator) Keys(kind string, n int, seed uint64) []Key {
	r := rand.New(rand.NewPCG(seed, math.MaxUint32))
	keys := make([]Key, 0, n)
	var lines [][]byte
	for range n {
		switch kind {
		case "actor":
			keys = append(keys, Key{Kind: kind, Type: "User", ID: ActorID(actorOf(r, g.cfg.Actors))})
		case "target":
			tt := TargetTypes[r.IntN(len(TargetTypes))]
			keys = append(keys, Key{Kind: kind, Type: tt.Name, ID: strconv.FormatUint(1+r.Uint64N(g.cfg.TargetsPerType), 10)})
		case "request":
			k := r.IntN(g.Chunks())
			lines = g.Chunk(lines[:0], k)
			e, err := event.Decode(lines[r.IntN(len(lines))])
			if err != nil {
				panic(err) // the generator's own output
			}
			keys = append(keys, Key{Kind: kind, ID: e.Context.RequestID})
		default:
			panic("synth: unknown key kind " + kind)
		}
	}
	return keys
}
