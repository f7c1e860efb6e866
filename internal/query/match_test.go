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
