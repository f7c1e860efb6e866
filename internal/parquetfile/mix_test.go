package parquetfile

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
)

// mix generates a realistic audit stream, deterministic by seed: the
// events of a few busy web applications (users acting through requests that
// change one to four records each), their workers, a PostgreSQL pgAudit
// input and a CloudTrail input, spread over days.
//
//   - actors: 50,000 users (Zipf: a few are very active), 200 admin
//     accounts, 30 services, 4 database roles; 4% of events have none;
//   - targets: 1,000,000 ids over 8 types (Zipf per type), some ids above
//     2^53 (snowflake payment ids);
//   - 50 actions: create/update/delete (70%) and 47 dotted verbs;
//   - requests: a UUID request id shared by the 1–4 events of one request,
//     with its actor's IP (mostly the actor's usual one), one of ~300 user
//     agents, one of 100 route patterns, a host of 24;
//   - changes: 1–6 columns, {col: [old, new]} for updates and {col: v} for
//     create/delete, 20–200 bytes, exact big integers included;
//   - time advancing about 2 events/s (170,000 a day) with jitter, 1% backfilled up to three
//     days late, 30% produced in +09:00; received_at a few ms to seconds
//     later;
//   - 4 tenants, 6 sources, per-stream gap-free seq;
//   - 2% foreign-format events (AuditLoggable lines) with their original line.
type mix struct {
	r       *rand.Rand
	now     time.Time
	tokyo   *time.Location
	uas     []string
	routes  []route
	hosts   []string
	userZ   *rand.Zipf
	tgtZ    []*rand.Zipf
	seq     map[string]uint64
	pending []*event.Event // the rest of the current request
	buf     []byte
}

type route struct {
	endpoint string
	target   int // index into targetTypes
	action   string
}

type targetType struct {
	name, table string
	n           uint64 // ids 1..n
	big         bool   // snowflake ids above 2^53
	cols        []string
}

var targetTypes = []targetType{
	{"Order", "orders", 300_000, false, []string{"status", "total_cents", "shipping_address_id", "note", "paid_at", "coupon_code"}},
	{"User", "users", 50_000, false, []string{"email", "name", "role", "locked", "last_sign_in_at", "phone"}},
	{"Product", "products", 100_000, false, []string{"name", "price_cents", "stock", "published", "category_id", "sku"}},
	{"Invoice", "invoices", 200_000, false, []string{"amount_cents", "due_on", "state", "pdf_key", "tax_cents", "sent_at"}},
	{"Payment", "payments", 150_000, true, []string{"amount_cents", "state", "gateway_ref", "captured_at", "refund_cents", "ledger_id"}},
	{"Comment", "comments", 150_000, false, []string{"body", "hidden", "score", "edited_at", "parent_id", "author_id"}},
	{"Admin::Setting", "admin_settings", 1_000, false, []string{"value", "enabled", "scope", "updated_by", "version", "note"}},
	{"Shipment", "shipments", 49_000, false, []string{"carrier", "tracking_no", "state", "weight_g", "shipped_at", "eta"}},
}

var verbs = []string{
	"user.login", "user.logout", "user.login_failed", "user.password_reset", "user.mfa_enable", "user.mfa_disable",
	"user.invite", "user.lock", "user.unlock", "user.impersonate", "secret.view", "secret.rotate", "report.export",
	"report.view", "order.ship", "order.cancel", "order.refund", "order.approve", "payment.capture", "payment.refund",
	"payment.void", "invoice.send", "invoice.void", "invoice.download", "product.publish", "product.unpublish",
	"product.import", "comment.hide", "comment.flag", "setting.change", "role.grant", "role.revoke", "apikey.create",
	"apikey.revoke", "webhook.create", "webhook.delete", "export.download", "session.revoke", "billing.update",
	"plan.change", "data.purge", "audit.view", "member.add", "member.remove", "sso.configure", "token.refresh",
	"file.upload",
}

var (
	tenants = []weighted{{"default", 60}, {"acme", 20}, {"globex", 12}, {"initech", 8}}
	sources = []weighted{{"app:kakari", 55}, {"app:shop", 20}, {"worker:kakari", 10}, {"pgaudit:main", 8}, {"http", 5}, {"cloudtrail:123456789012", 2}}
	words   = []string{"alpha", "bravo", "pending", "shipped", "paid", "refunded", "draft", "active", "archived", "tokyo", "osaka", "express", "standard", "gift", "note", "blue", "red", "xl", "m"}
	family  = []string{"Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura", "Kobayashi", "Kato", "Smith", "Garcia"}
	given   = []string{"Haruto", "Yui", "Sota", "Hina", "Ren", "Aoi", "Yuto", "Mei", "Kaito", "Rin", "Emma", "Noah"}
)

type weighted struct {
	v string
	w int
}

func pick(r *rand.Rand, ws []weighted) string {
	total := 0
	for _, w := range ws {
		total += w.w
	}
	n := r.IntN(total)
	for _, w := range ws {
		if n < w.w {
			return w.v
		}
		n -= w.w
	}
	return ws[0].v
}

func newMix(seed uint64) *mix {
	r := rand.New(rand.NewPCG(seed, 0x6b616e7361))
	m := &mix{r: r, now: time.Date(2024, 8, 5, 0, 0, 0, 0, time.UTC), seq: map[string]uint64{}}
	m.tokyo = time.FixedZone("", 9*3600)
	m.userZ = rand.NewZipf(r, 1.02, 50, 50_000-1)
	for _, t := range targetTypes {
		m.tgtZ = append(m.tgtZ, rand.NewZipf(r, 1.05, 8, t.n-1))
	}
	// ~300 user agents: browsers × versions × platforms, plus mobile SDKs.
	plats := []string{"Windows NT 10.0; Win64; x64", "Macintosh; Intel Mac OS X 10_15_7", "X11; Linux x86_64", "iPhone; CPU iPhone OS 17_5 like Mac OS X", "Linux; Android 14; Pixel 8"}
	for v := 118; v < 128; v++ {
		for _, p := range plats {
			m.uas = append(m.uas, fmt.Sprintf("Mozilla/5.0 (%s) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36", p, v, 6000+v*3, 100+v%7*13))
			m.uas = append(m.uas, fmt.Sprintf("Mozilla/5.0 (%s; rv:%d.0) Gecko/20100101 Firefox/%d.0", p, v, v))
		}
	}
	for v := 0; v < 60; v++ {
		m.uas = append(m.uas, fmt.Sprintf("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.%d Safari/605.1.15", v%7))
		m.uas = append(m.uas, fmt.Sprintf("kakari-ios/5.%d.%d (iPhone1%d,2; iOS 17.%d)", v/10, v%10, v%6, v%6))
		m.uas = append(m.uas, fmt.Sprintf("kakari-android/5.%d.%d (Pixel %d; Android 14)", v/10, v%10, 6+v%3))
	}
	m.uas = append(m.uas, "curl/8.5.0", "python-requests/2.32.3", "Go-http-client/1.1", "aws-sdk-go-v2/1.30.3", "Faraday v2.9.0")
	// 100 route patterns over the target types.
	for ti, t := range targetTypes {
		base := "/api/v1/" + t.table
		for _, rt := range []route{{"POST " + base, ti, "create"}, {"PATCH " + base + "/:id", ti, "update"}, {"PUT " + base + "/:id", ti, "update"},
			{"DELETE " + base + "/:id", ti, "delete"}, {"GET " + base + "/:id", ti, ""}, {"POST " + base + "/:id/actions", ti, ""},
			{"PATCH /admin/" + t.table + "/:id", ti, "update"}, {"POST /admin/" + t.table + "/import", ti, "create"},
			{"DELETE /admin/" + t.table + "/:id", ti, "delete"}, {"POST /admin/" + t.table + "/:id/restore", ti, "update"},
			{"GET /admin/" + t.table + "/:id/history", ti, ""}, {"POST " + base + "/bulk", ti, "update"}} {
			m.routes = append(m.routes, rt)
		}
	}
	m.routes = append(m.routes, route{"POST /login", -1, "user.login"}, route{"DELETE /logout", -1, "user.logout"},
		route{"POST /password/reset", -1, "user.password_reset"}, route{"GET /admin/reports/:id/export", -1, "report.export"})
	for i := range 24 {
		m.hosts = append(m.hosts, fmt.Sprintf("kakari-web-6d5f8b7c9-%05x", r.Uint32()>>12+uint32(i)))
	}
	return m
}

// next returns the next event in the stored encoding. The slice is valid
// until the next call.
func (m *mix) next() []byte {
	if len(m.pending) == 0 {
		m.request()
	}
	e := m.pending[0]
	m.pending = m.pending[1:]
	m.buf = e.AppendJSON(m.buf[:0])
	return m.buf
}

// batch returns events until they reach maxBytes of NDJSON (lines plus
// newlines), each a fresh slice.
func (m *mix) batch(maxBytes int) [][]byte {
	var out [][]byte
	n := 0
	for n < maxBytes {
		l := append([]byte(nil), m.next()...)
		out = append(out, l)
		n += len(l) + 1
	}
	return out
}

func (m *mix) uuid() string {
	var b [16]byte
	for i := 0; i < 16; i += 8 {
		v := m.r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// uuid7 is a UUIDv7 for time t, as the SDK gives.
func (m *mix) uuid7(t time.Time) string {
	ms := uint64(t.UnixMilli())
	a, b := m.r.Uint64(), m.r.Uint64()
	return fmt.Sprintf("%08x-%04x-7%03x-%04x-%012x", ms>>16, ms&0xffff, a&0xfff, 0x8000|(a>>12)&0x3fff, b&0xffffffffffff)
}

func (m *mix) ip(actor uint64) string {
	if actor > 0 && m.r.IntN(10) < 8 { // the actor's usual address
		h := actor*2654435761 + 12345
		if h%9 == 0 {
			return fmt.Sprintf("2001:db8:%x:%x::%x", h>>20&0xffff, h>>4&0xffff, h&0xff)
		}
		return fmt.Sprintf("%d.%d.%d.%d", 10+h%200, h>>8&0xff, h>>16&0xff, 1+h>>24%254)
	}
	return fmt.Sprintf("%d.%d.%d.%d", 1+m.r.IntN(223), m.r.IntN(256), m.r.IntN(256), 1+m.r.IntN(254))
}

func (m *mix) value(col string, big bool) string {
	switch m.r.IntN(8) {
	case 0:
		return "null"
	case 1:
		return strconv.FormatBool(m.r.IntN(2) == 0)
	case 2, 3:
		if big && m.r.IntN(2) == 0 {
			return strconv.FormatUint(1<<53+m.r.Uint64N(1<<62), 10) // exact only as text
		}
		return strconv.Itoa(m.r.IntN(1_000_000))
	case 4:
		return `"` + m.now.Add(-time.Duration(m.r.IntN(1e6))*time.Second).Format(time.RFC3339) + `"`
	}
	s := words[m.r.IntN(len(words))]
	if m.r.IntN(3) == 0 {
		s += " " + words[m.r.IntN(len(words))] + " " + strconv.Itoa(m.r.IntN(1000))
	}
	return `"` + s + `"`
}

func (m *mix) changes(t *targetType, action string) []byte {
	if action != "create" && action != "update" && action != "delete" {
		if m.r.IntN(4) != 0 {
			return nil
		}
		action = "update"
	}
	n := 1 + m.r.IntN(3)
	if action != "update" {
		n = 2 + m.r.IntN(5)
	}
	b := []byte{'{'}
	for i, c := range m.r.Perm(len(t.cols))[:min(n, len(t.cols))] {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, t.cols[c]...)
		b = append(b, `":`...)
		if action == "update" {
			b = append(b, '[')
			b = append(b, m.value(t.cols[c], t.big)...)
			b = append(b, ',')
			b = append(b, m.value(t.cols[c], t.big)...)
			b = append(b, ']')
		} else {
			b = append(b, m.value(t.cols[c], t.big)...)
		}
	}
	return append(b, '}')
}

func (m *mix) targetID(ti int) string {
	t := &targetTypes[ti]
	n := 1 + m.tgtZ[ti].Uint64()
	if t.big {
		return strconv.FormatUint(1<<53+n*7919, 10)
	}
	return strconv.FormatUint(n, 10)
}

// request generates the events of one request (or job, or foreign line).
func (m *mix) request() {
	r := m.r
	m.now = m.now.Add(time.Duration(r.ExpFloat64() * float64(time.Second)))
	t := m.now.Truncate(time.Microsecond)
	if r.IntN(100) == 0 { // a backfill
		t = t.Add(-time.Duration(r.Int64N(int64(72 * time.Hour))))
	}
	tenant := pick(r, tenants)
	source := pick(r, sources)
	host := m.hosts[r.IntN(len(m.hosts))]
	var actor *event.Actor
	var actorN uint64
	switch k := r.IntN(100); {
	case k < 4 || source == "cloudtrail:123456789012" && k < 30:
	case source == "pgaudit:main":
		actor = &event.Actor{Type: "db_role", ID: []string{"app_rw", "postgres", "readonly", "migrator"}[r.IntN(4)]}
	case source == "worker:kakari" || k < 8:
		actor = &event.Actor{Type: "Service", ID: fmt.Sprintf("svc-%s-%d", words[r.IntN(len(words))], r.IntN(30))}
	case k < 12:
		actorN = 1 + r.Uint64N(200)
		actor = &event.Actor{Type: "Admin::Account", ID: strconv.FormatUint(actorN, 10)}
		actorN += 1 << 20
	default:
		actorN = 1 + m.userZ.Uint64()
		actor = &event.Actor{Type: "User", ID: strconv.FormatUint(actorN, 10)}
	}
	if actor != nil && actor.Type == "User" && r.IntN(10) < 4 {
		actor.Name = given[actorN%uint64(len(given))] + " " + family[actorN/7%uint64(len(family))]
	}
	var ctx event.Context
	rt := m.routes[r.IntN(len(m.routes))]
	switch source {
	case "app:kakari", "app:shop", "http":
		ctx = event.Context{Host: host, IP: m.ip(actorN), UserAgent: m.uas[r.IntN(len(m.uas))], RequestID: m.uuid(), Endpoint: rt.endpoint}
		if r.IntN(10) < 3 {
			ctx.TraceID = fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
		}
	case "worker:kakari":
		ctx = event.Context{Host: host, Caller: targetTypes[max(rt.target, 0)].name + []string{"SyncJob#perform", "ReindexJob#perform", "ExpireJob#perform"}[r.IntN(3)], RequestID: m.uuid()}
	case "pgaudit:main":
		ctx = event.Context{Host: "db-main-1"}
	case "cloudtrail:123456789012":
		ctx = event.Context{IP: m.ip(0), UserAgent: m.uas[len(m.uas)-2]}
	}
	n := 1
	if ctx.RequestID != "" {
		n = []int{1, 1, 1, 2, 2, 3, 4}[r.IntN(7)]
	}
	stream := source + "/" + host
	for i := range n {
		e := &event.Event{Actor: actor, Context: ctx, Source: source, Tenant: tenant, Outcome: event.OutcomeSuccess}
		e.Time = t.Add(time.Duration(i) * time.Duration(1+r.IntN(3000)) * time.Microsecond)
		ti := rt.target
		if ti < 0 || i > 0 && r.IntN(2) == 0 {
			ti = r.IntN(len(targetTypes))
		}
		e.Action = rt.action
		switch k := r.IntN(100); {
		case rt.target < 0 && i == 0:
		case e.Action == "" || k < 30:
			e.Action = verbs[r.IntN(len(verbs))]
		case k < 40:
			e.Action = []string{"create", "update", "delete"}[r.IntN(3)]
		}
		if !(rt.target < 0 && i == 0) && r.IntN(100) >= 3 {
			tt := &targetTypes[ti]
			e.Target = &event.Target{Type: tt.name, ID: m.targetID(ti)}
			if source == "pgaudit:main" {
				e.Target.Schema, e.Target.Table = "public", tt.table
			}
			e.Changes = m.changes(tt, e.Action)
		}
		if e.Action == "user.login_failed" || r.IntN(100) == 0 {
			e.Outcome = event.OutcomeFailure
			e.Meta = []byte(`{"error":"` + []string{"invalid password", "access denied", "mfa required", "rate limited"}[r.IntN(4)] + `"}`)
		} else if r.IntN(10) == 0 {
			e.Meta = []byte(`{"reason":"` + words[r.IntN(len(words))] + `","ticket":` + strconv.Itoa(r.IntN(100000)) + `}`)
		}
		if r.IntN(10) < 3 {
			e.Time = e.Time.In(m.tokyo)
		}
		e.ReceivedAt = m.now.Add(time.Duration(5+r.IntN(2000)) * time.Millisecond).Truncate(time.Microsecond)
		switch source {
		case "pgaudit:main":
			e.Origin = []byte(fmt.Sprintf(`{"file":"postgresql-%s.log","offset":%d}`, t.UTC().Format("2006-01-02"), r.IntN(1<<30)))
		case "cloudtrail:123456789012":
			e.Origin = []byte(fmt.Sprintf(`{"s3_key":"AWSLogs/123456789012/CloudTrail/ap-northeast-1/%s/123456789012_CloudTrail_ap-northeast-1_%s_%x.json.gz","index":%d}`,
				t.UTC().Format("2006/01/02"), t.UTC().Format("20060102T1504Z"), r.Uint32(), r.IntN(50)))
		}
		if r.IntN(50) == 0 && e.Target != nil && actor != nil { // 2%: an AuditLoggable line
			m.foreign(e)
		} else {
			m.seq[stream]++
			e.Seq = &event.Seq{Stream: stream, N: m.seq[stream]}
			e.ID = m.uuid7(e.Time)
		}
		m.pending = append(m.pending, e)
	}
}

// foreign turns e into an event mapped from an AuditLoggable line.
func (m *mix) foreign(e *event.Event) {
	action := e.Action
	if action == "delete" && m.r.IntN(2) == 0 {
		action = "destroy"
		e.Meta = []byte(`{"original_action":"destroy"}`)
	}
	changes := e.Changes
	if changes == nil {
		changes = []byte("{}")
	}
	line := fmt.Sprintf(`{"timestamp":%q,"record":{"auditable":{"id":%s,"type":%q},"user":{"id":%s,"type":%q},"action":%q,"changes":%s,"remote_address":%q,"request_uuid":%q}}`,
		e.Time.In(m.tokyo).Format("2006-01-02T15:04:05.000000-07:00"), e.Target.ID, e.Target.Type, e.Actor.ID, e.Actor.Type, action,
		strconv.Quote(string(changes)), e.Context.IP, e.Context.RequestID)
	e.Time = e.Time.In(m.tokyo)
	e.Actor = &event.Actor{Type: e.Actor.Type, ID: e.Actor.ID}
	e.Context = event.Context{IP: e.Context.IP, RequestID: e.Context.RequestID}
	e.Original = []byte(line)
	e.Source = "stdin"
	e.ID = event.DeriveID([]byte(e.Source), e.Original)
}
