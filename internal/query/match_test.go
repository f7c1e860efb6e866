package query

import (
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
)

// decode builds an event the way kansa stores it: decoded, then normalized.
func decode(t testing.TB, line string) *event.Event {
	t.Helper()
	e, err := event.Decode([]byte(line))
	if err != nil {
		t.Fatalf("decode %s: %v", line, err)
	}
	e.Normalize()
	return e
}

const (
	// A user (numeric id) updates an order, at 09:00 in Tokyo on 1 August.
	lineUpdate = `{"schema":"kansa.audit/v1","id":"e1","time":"2024-08-01T09:00:00+09:00","action":"update","actor":{"type":"User","id":42},"target":{"type":"Order","id":"17"},"context":{"request_id":"r-1"},"source":"app:kakari"}`
	// A login that failed, in another tenant, with no target.
	lineLogin = `{"schema":"kansa.audit/v1","id":"e2","time":"2024-07-31T23:59:59.999999Z","action":"user.login","actor":{"type":"Admin::Account","id":"a b"},"source":"app one","tenant":"acme","outcome":"failure"}`
	// A system change to a bucket whose id has colons.
	lineBucket = `{"schema":"kansa.audit/v1","id":"e3","time":"2024-08-01T15:00:00Z","action":"delete","target":{"type":"AWS::S3::Bucket","id":"arn:aws:s3:::logs"},"source":"cloudtrail:123456789012"}`
)

func TestMatch(t *testing.T) {
	jst := tokyo(t)
	update, login, bucket := decode(t, lineUpdate), decode(t, lineLogin), decode(t, lineBucket)
	events := map[string]*event.Event{"update": update, "login": login, "bucket": bucket}
	cases := []struct {
		query string
		loc   *time.Location
		want  string // names of the matching events, in order update, login, bucket
	}{
		{"", nil, "update login bucket"},
		{"actor:User:42", nil, "update"},
		{`actor:User:"42"`, nil, "update"},
		{"actor:User:4", nil, ""},
		{"actor:Admin:42", nil, ""},
		{`actor:Admin::Account:"a b"`, nil, "login"},
		{"actor:User:42 actor:Admin::Account:a", nil, "update"},
		{"actor_type:User actor_type:Admin::Account", nil, "update login"},
		{"actor_type:Admin", nil, ""},
		{"actor_type:User actor:Admin::Account:\"a b\"", nil, ""}, // AND across qualifiers
		{`target:AWS::S3::Bucket:"arn:aws:s3:::logs"`, nil, "bucket"},
		{`target:AWS::S3::Bucket:logs`, nil, ""},
		{"target:Order:17", nil, "update"},
		{"target_type:Order target_type:AWS::S3::Bucket", nil, "update bucket"},
		{"action:update", nil, "update"},
		{"action:user.*", nil, "login"},
		{"action:user", nil, ""},
		{"action:destroy", nil, "bucket"},
		{"action:create action:update action:delete", nil, "update bucket"},
		{"action:*", nil, "update login bucket"},
		{`source:"app one"`, nil, "login"},
		{"source:app:kakari source:cloudtrail:123456789012", nil, "update bucket"},
		{"tenant:default", nil, "update bucket"},
		{"tenant:acme", nil, "login"},
		{"request_id:r-1", nil, "update"},
		{"outcome:failure", nil, "login"},
		{"outcome:success", nil, "update bucket"},
		// The update happened at 2024-08-01T00:00:00Z exactly: bounds at that
		// instant, written with +09:00.
		{"created:>=2024-08-01T09:00:00+09:00", nil, "update bucket"},
		{"created:>2024-08-01T09:00:00+09:00", nil, "bucket"},
		{"created:<2024-08-01T09:00:00+09:00", nil, "login"},
		{"created:<=2024-08-01T09:00:00+09:00", nil, "update login"},
		{"created:=2024-08-01T09:00:00+09:00", nil, "update"},
		{"created:2024-08-01T09:00:00+09:00..2024-08-01T09:00:00+09:00", nil, "update"},
		// The login is at exactly the start of this range, the update within.
		{"created:2024-08-01T08:59:59.999999+09:00..2024-08-01T09:00:00+09:00", nil, "update login"},
		{"created:2024-08-01T08:59:59.999999+09:00", nil, "login"},
		{"created:2024-07-31T23:59:59.999999Z", nil, "login"},
		{"created:2024-07-31T23:59:59.99999Z", nil, "login"}, // the 10 µs span includes it
		{"created:>2024-07-31T23:59:59.99999Z", nil, "update bucket"},
		{"created:>2024-07-31T23:59:59.999998Z", nil, "update login bucket"},
		// A date is a day in the parser's time zone. In UTC, 1 August holds
		// the update (00:00Z) and the bucket (15:00Z); in Tokyo it runs
		// 2024-07-31T15:00Z to 2024-08-01T15:00Z, so it holds the login
		// (23:59Z on 31 July) and the update, and the bucket is 2 August.
		{"created:2024-08-01", nil, "update bucket"},
		{"created:2024-08-01", jst, "update login"},
		{"created:2024-08-02", jst, "bucket"},
		{"created:<2024-08-01", nil, "login"},
		{"created:<2024-08-01", jst, ""},
		{"created:>=2024-08-01", jst, "update login bucket"},
		{"created:>2024-08-01", jst, "bucket"},
		{"created:2024-08-01T09", jst, "update"},
		{"created:2024-07-31..2024-08-01", nil, "update login bucket"},
		{"created:2024-07-31..2024-08-01", jst, "update login"},
		{"created:2024-08-02..*", jst, "bucket"},
		{"actor:User:42 action:update target:Order:17 created:>=2024-08-01", jst, "update"},
		{"actor:User:42 action:update target:Order:17 created:>=2024-08-02", jst, ""},
	}
	for _, c := range cases {
		q, err := Parse(c.query, c.loc)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.query, err)
			continue
		}
		var got []string
		for _, name := range []string{"update", "login", "bucket"} {
			if q.Match(events[name]) {
				got = append(got, name)
			}
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%q (in %v) matches [%s], want [%s]", c.query, c.loc, g, c.want)
		}
	}
}

// An event not yet normalized counts as tenant default and outcome success.
func TestMatchUnnormalized(t *testing.T) {
	e, err := event.Decode([]byte(`{"schema":"kansa.audit/v1","time":"2024-08-01T00:00:00Z","action":"x","source":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"tenant:default", "outcome:success", "tenant:default outcome:success"} {
		q, err := Parse(s, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !q.Match(e) {
			t.Errorf("%q does not match an event with no tenant or outcome", s)
		}
	}
}

func TestEmpty(t *testing.T) {
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"", true},
		{"created:*..*", true},
		{"action:*", false},
		{"outcome:success", false},
		{"created:<2024-08-01", false},
		{"created:>=2024-08-01", false},
		{"request_id:r", false},
		{"ip:10.0.0.0/8", false},
		{"-action:x", false},
		{"source:app:*", false},
		{"hello", false},
		{"-hello", false},
	} {
		q, err := Parse(c.query, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Empty(); got != c.want {
			t.Errorf("Parse(%q).Empty() = %v, want %v", c.query, got, c.want)
		}
	}
	if q := (Query{Limit: 10}); !q.Empty() {
		t.Error("Limit counts as a condition")
	}
}

// Events for the features beyond exact values: records, context.ip,
// changes and meta.
const (
	// A user (numeric id) edits an order, from 10.1.2.3, changing an
	// email; meta has escapes that decode to "café <new>".
	lineEdit = `{"schema":"kansa.audit/v1","id":"f1","time":"2024-08-08T12:00:00Z","action":"update","actor":{"type":"User","id":42},"target":{"type":"Order","id":"17"},"changes":{"email":["a@x.com","b@x.com"],"price":[100,1200],"paid":[false,true]},"context":{"request_id":"r-1","ip":"10.1.2.3"},"source":"app:kakari","meta":{"note":"caf\u00e9 \u003cnew\u003e","emoji":"\ud83d\ude00","quote":"say \"hi\""}}`
	// Someone views an order from behind a proxy: an IPv4 address with a
	// port; the actor's id has a comma and a colon.
	lineView = `{"schema":"kansa.audit/v1","id":"f2","time":"2024-08-07T09:00:00Z","action":"order.view","actor":{"type":"User","id":"a,b:c"},"target":{"type":"Order","id":"18"},"context":{"request_id":"r-2","ip":"192.168.1.20:51234"},"source":"app:shop","tenant":"acme","meta":{"path":"/orders/18","Name":"ＴＡＲＯ Straße"}}`
	// An admin deletes a bucket over IPv6.
	lineDrop = `{"schema":"kansa.audit/v1","id":"f3","time":"2024-08-01T00:00:00Z","action":"delete","actor":{"type":"Admin::Account","id":"7"},"target":{"type":"AWS::S3::Bucket","id":"arn:aws:s3:::logs"},"context":{"ip":"2001:db8::1"},"source":"cloudtrail:123456789012","changes":{"versioning":["Enabled",null]}}`
	// A mapped line whose ip is not an address, and no actor.
	lineOdd = `{"schema":"kansa.audit/v1","id":"f4","time":"2024-07-01T00:00:00Z","action":"admin.setting.view","target":{"type":"Admin::Setting","id":"17"},"context":{"ip":"xxx.xxx.xxx.x"},"source":"app:legacy"}`
)

// TestMatchFeatures covers commas, wildcards, exclusions, ip, relative
// times and full text. Relative times count back from testNow
// (2024-08-08T12:34:56Z).
func TestMatchFeatures(t *testing.T) {
	names := []string{"edit", "view", "drop", "odd"}
	events := map[string]*event.Event{
		"edit": decode(t, lineEdit), "view": decode(t, lineView), "drop": decode(t, lineDrop), "odd": decode(t, lineOdd),
	}
	cases := []struct {
		query string
		want  string // names of the matching events, in order edit, view, drop, odd
	}{
		// Commas: any of the values.
		{"action:update,delete", "edit drop"},
		{"action:update,destroy", "edit drop"},
		{"actor:User:42,Admin::Account:7", "edit drop"},
		{`actor:User:"a,b:c"`, "view"},
		{`actor:User:"a,b:c",User:42`, "edit view"},
		{"actor:User:a", ""},
		{"target:Order:17,Order:18 source:app:kakari,app:shop", "edit view"},
		{"tenant:acme,default", "edit view drop odd"},
		{"request:r-1,r-2", "edit view"},

		// Wildcards.
		{"action:*.view", "view odd"},
		{"action:*view", "view odd"},
		{"action:*.setting.*", "odd"},
		{"action:admin.*.view", "odd"},
		{"action:*e*e*", "view drop odd"}, // two e's: not update
		{"action:update,*.view", "edit view odd"},
		{"action:*", "edit view drop odd"},
		{"target:Order:*", "edit view"},
		{"target:Order:1*", "edit view"},
		{"target:Order:*7", "edit"},
		{"target:Admin::*", "odd"},
		{"target:*:17", "edit odd"},
		{"target:*", "edit view drop odd"},
		{`target:AWS::S3::Bucket:"arn:aws:s3:::*"`, "drop"},
		{"target:AWS::S3::Bucket:arn:*:logs", "drop"},
		{"target:*::*", "drop odd"},
		{"actor:*", "edit view drop"}, // odd has no actor
		{"actor:User:*", "edit view"},
		{"actor:User:4*", "edit"},
		{`actor:User:"a,*"`, "view"},
		{"actor:*:42", "edit"},
		{"actor_type:Admin::*", "drop"},
		{"target_type:*Setting,Order", "edit view odd"},
		{"source:app:*", "edit view odd"},
		{"source:*:1234*", "drop"},
		{"tenant:ac*", "view"},
		{"tenant:*", "edit view drop odd"},
		{"request_id:r-*", "edit view"},
		{"request_id:*", "edit view"}, // a pattern needs the field
		{`source:"app:*"`, "edit view odd"},
		{`source:"app:\*"`, ""}, // a star, not a wildcard

		// Exclusions.
		{"-action:*.view", "edit drop"},
		{"-action:*.view -action:delete", "edit"},
		{"-actor:User:42,Admin::Account:7", "view odd"},
		{"-actor:User:*", "drop odd"},
		{"-actor:*", "odd"},
		{"-request_id:*", "drop odd"},
		{"-tenant:default", "view"},
		{"-source:app:kakari,app:shop -target_type:Admin::Setting", "drop"},
		{`-target:AWS::S3::Bucket:"arn:aws:s3:::logs"`, "edit view odd"},
		{"action:update,*.view -action:order.*", "edit odd"},
		{"target:Order:* -actor:User:42", "view"},
		{"-ip:10.0.0.0/8", "view drop odd"},
		{"-ip:*", ""},

		// ip: addresses, blocks, patterns.
		{"ip:10.1.2.3", "edit"},
		{"ip:10.1.2.4", ""},
		{"ip:10.0.0.0/8", "edit"},
		{"ip:10.1.2.3/32", "edit"},
		{"ip:::ffff:10.1.2.3", "edit"},
		{"ip:::ffff:10.0.0.0/104", "edit"},
		{"ip:192.168.0.0/16", "view"}, // the address of 192.168.1.20:51234
		{"ip:192.168.1.20", "view"},
		{"ip:2001:db8::/32", "drop"},
		{"ip:2001:DB8:0::1", "drop"},
		{"ip:2001:db9::/32", ""},
		{"ip:::/0", "drop"},
		{"ip:0.0.0.0/0", "edit view"},
		{"ip:10.0.0.0/8,2001:db8::/32", "edit drop"},
		{"ip:10.1.*", "edit"},
		{"ip:192.168.1.20:*", "view"},
		{"ip:xxx.*", "odd"},
		{"ip:*", "edit view drop odd"},
		{"ip:xxx.*,10.0.0.0/8", "edit odd"},

		// Relative times.
		{"created:>now-1h", "edit"},
		{"created:>=now-7d", "edit view"},
		{"created:now-14d..now-7d", "drop"},
		{"created:<now-1d", "view drop odd"},
		{"created:<=now-1w", "drop odd"},
		{"created:now-2096s", "edit"}, // 12:00:00 is the second 2096 s before 12:34:56

		// Full text over changes and meta.
		{"b@x.com", "edit"},
		{"B@X.COM", "edit"},
		{"email", "edit"}, // keys too
		{"x.com", "edit"},
		{`"a@x.com b@x.com"`, ""}, // within one string only
		{"1200", "edit"},          // numbers as written
		{"20", "edit"},
		{"true", ""}, // not true, false or null
		{"null", ""},
		{"café", "edit"},    // \u00e9 decoded
		{"CAFÉ", "edit"},    // and folded
		{`"<new>"`, "edit"}, // \u003c decoded
		{"😀", "edit"},       // a surrogate pair
		{"ｔａｒｏ", "view"},    // full-width ＴＡＲＯ folds to full-width ｔａｒｏ
		{"taro", ""},        // but not to ASCII
		{"STRAßE", "view"},
		{"strasse", ""}, // simple folding only: ß is not ss
		{"/orders/", "view"},
		{"enabled", "drop"},
		{"name", "view"}, // a key of meta
		{"b@x.com -b@x.com", ""},
		{"-email", "view drop odd"},
		{"-b@x.com -enabled", "view odd"},
		{"email price", "edit"},
		{"email path", ""},
		{"action:*.view Orders", "view"},
		{`"say \"hi\""`, "edit"},
		{`"y \"h"`, "edit"},
		{`"\"hi\"\""`, ""},

		// The example of the specification.
		{"actor:User:42 action:update target:Order:17 created:>=2024-08-01 -action:*.view", "edit"},
	}
	for _, c := range cases {
		q, err := ParseAt(c.query, nil, testNow)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.query, err)
			continue
		}
		var got []string
		for _, name := range names {
			if q.Match(events[name]) {
				got = append(got, name)
			}
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("%q matches [%s], want [%s]", c.query, g, c.want)
		}
		// The canonical text means the same.
		q2, err := Parse(q.String(), nil)
		if err != nil {
			t.Errorf("Parse(%q) (from %q): %v", q.String(), c.query, err)
			continue
		}
		for _, name := range names {
			if q.Match(events[name]) != q2.Match(events[name]) {
				t.Errorf("%q and its String %q disagree on %s", c.query, q.String(), name)
			}
		}
	}
}

const benchQuery = `actor:User:41 actor:User:42 action:create action:update action:user.* target:Order:17 source:app:kakari tenant:default outcome:success created:2024-08-01`

func TestMatchDoesNotAllocate(t *testing.T) {
	e := decode(t, lineUpdate)
	q, err := Parse(benchQuery, tokyo(t))
	if err != nil {
		t.Fatal(err)
	}
	if !q.Match(e) {
		t.Fatal("benchmark query does not match")
	}
	if n := testing.AllocsPerRun(100, func() { q.Match(e) }); n != 0 {
		t.Errorf("Match allocates %v times per call", n)
	}
}

// The features beyond exact values do not allocate either, whether they
// match or not.
func TestMatchFeaturesDoNotAllocate(t *testing.T) {
	events := []*event.Event{decode(t, lineEdit), decode(t, lineView), decode(t, lineDrop), decode(t, lineOdd)}
	for _, s := range []string{
		benchQueryFeatures,
		"action:create,*.view -action:order.* actor:User:*,Admin::* -target:AWS::S3::Bucket:*",
		`target:Order:1* target:AWS::S3::Bucket:"arn:aws:s3:::*" -actor:User:"a,*"`,
		"ip:10.0.0.0/8,2001:db8::/32,192.168.1.20 ip:xxx.*,10.0.0.0/8 -ip:172.16.0.0/12",
		"ip:2001:db8::1 ip:192.168.0.0/16",
		"source:app:* tenant:ac*,default request_id:r-* actor_type:*Account,User target_type:Order,*Bucket",
		`created:now-14d..now b@x.com CAFÉ "<new>" 😀 -enabled -ｔａｒｏ "say \"hi\""`,
	} {
		q, err := ParseAt(s, nil, testNow)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if n := testing.AllocsPerRun(100, func() { q.Match(e) }); n != 0 {
				t.Errorf("%q: Match of event %s allocates %v times per call", s, e.ID, n)
			}
		}
	}
}

// benchQueryFeatures matches lineEdit through wildcards, exclusions, a
// block, a relative time and full text.
const benchQueryFeatures = `actor:User:*,Admin::* action:update,*.view -action:*.admin.* target:Order:* -source:app:shop ip:10.0.0.0/8,192.168.* created:>now-7d b@x.com -secret`

func BenchmarkMatchFeatures(b *testing.B) {
	e := decode(b, lineEdit)
	q, err := ParseAt(benchQueryFeatures, nil, testNow)
	if err != nil {
		b.Fatal(err)
	}
	if !q.Match(e) {
		b.Fatal("benchmark query does not match")
	}
	b.ReportAllocs()
	for b.Loop() {
		q.Match(e)
	}
}

func BenchmarkMatch(b *testing.B) {
	e := decode(b, lineUpdate)
	q, err := Parse(benchQuery, tokyo(b))
	if err != nil {
		b.Fatal(err)
	}
	if !q.Match(e) {
		b.Fatal("benchmark query does not match")
	}
	b.ReportAllocs()
	for b.Loop() {
		q.Match(e)
	}
}

func TestHeartbeatsOnlyWhenAskedFor(t *testing.T) {
	hb := &event.Event{Action: HeartbeatAction, Source: "app:shop"}
	for _, c := range []struct {
		query string
		want  bool
	}{
		{"", false},
		{"source:app:shop", false},
		{"action:update", false},
		{"action:kansa.heartbeat", true},
		{"action:kansa.*", true},
		{"action:kansa.heartbeat source:app:other", false},
		{"action:kansa.heartbeat,update", true},
		{"action:*.heartbeat", true},
		{"action:*", true},
		{"-action:update", false}, // an exclusion does not ask for them
		{"-action:kansa.heartbeat", false},
		{"action:*.view", false},
	} {
		q, err := Parse(c.query, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Match(hb); got != c.want {
			t.Errorf("%q matches a heartbeat: %v, want %v", c.query, got, c.want)
		}
	}
}
