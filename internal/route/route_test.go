package route

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDefaultRules(t *testing.T) {
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := r.NewClassifier()
	cases := []struct {
		line string
		want Destination
	}{
		{`{"timestamp":"2024-08-06T18:00:59.981+09:00","record":{"action":"update","user":null}}`, Audit},
		{`{"schema":"kansa.audit/v1","action":"user.login"}`, Audit},
		{`{"method":"GET","path":"/orders/17","controller":"OrdersController","action":"show","status":200}`, App},
		{`{"record":"a string, not an object"}`, App},
		{`{"record":null}`, App},
		{`{"record":[1,2]}`, App},
		{`{"schema":"kansa.audit/v2"}`, App},
		{`{"record":{"action":"update"}`, App}, // malformed: never audit
		{`I, [2024-08-06T18:00:59.981 #1]  INFO -- : Started GET "/"`, App},
		{`ログイン処理を開始しました`, App},
		{``, App},
		{`{"sch\u0065ma":"kansa.audit/v1"}`, Audit},
	}
	for _, tc := range cases {
		if got := c.Route([]byte(tc.line)); got.To != tc.want {
			t.Errorf("Route(%s) = %v, want %v", tc.line, got.To, tc.want)
		}
	}
}

func TestRuleKinds(t *testing.T) {
	yes, no := true, false
	r, err := New(Config{
		Rules: []Rule{
			{Name: "nested", When: []Cond{{Field: "log.kind", Equals: "audit"}}, To: "audit"},
			{Name: "regex", When: []Cond{{Field: "msg", Matches: `^AUDIT: `}}, To: "audit"},
			{Name: "number", When: []Cond{{Field: "level", Equals: 50}, {Field: "trace", Exists: &no}}, To: "audit"},
			{Name: "rawline", When: []Cond{{Matches: `^AUDIT `}}, To: "audit"},
			{Name: "present", When: []Cond{{Field: "keep", Exists: &yes}}, To: "app"},
		},
		Default: "audit",
	})
	if err != nil {
		t.Fatal(err)
	}
	c := r.NewClassifier()
	cases := []struct {
		line string
		rule string
		to   Destination
	}{
		{`{"log":{"kind":"audit"}}`, "nested", Audit},
		{`{"log":{"kind":"app"},"keep":1}`, "present", App},
		{`{"msg":"AUDIT: SESSION,1"}`, "regex", Audit},
		{`{"level":50}`, "number", Audit},
		{`{"level":50,"trace":"x","keep":null}`, "present", App},
		{`AUDIT plain text`, "rawline", Audit},
		{`something else`, "default", Audit},
	}
	names := r.Names()
	for _, tc := range cases {
		d := c.Route([]byte(tc.line))
		if names[d.Rule] != tc.rule || d.To != tc.to {
			t.Errorf("Route(%s) = rule %s to %v, want %s to %v", tc.line, names[d.Rule], d.To, tc.rule, tc.to)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{Rules: []Rule{{Name: "x", When: []Cond{{Field: "a", Type: "obj"}}, To: "audit"}}}, `routes.rules[0] (x): when[0]: type "obj"`},
		{Config{Rules: []Rule{{When: []Cond{{Field: "a"}}, To: "audit"}}}, "set exactly one"},
		{Config{Rules: []Rule{{When: []Cond{{Field: "a", Matches: "("}}, To: "audit"}}}, "matches:"},
		{Config{Rules: []Rule{{To: "archive"}}}, `unknown destination "archive"`},
		{Config{Rules: []Rule{{}}}, "to: required"},
		{Config{Default: "nowhere"}, "routes.default"},
		{Config{Rules: []Rule{{When: []Cond{{Type: "object"}}, To: "app"}}}, "without field"},
	}
	for _, tc := range cases {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error containing %q", tc.cfg, err, tc.want)
		}
	}
}

func FuzzRoute(f *testing.F) {
	f.Add([]byte(`{"record":{"a":1}}`))
	f.Add([]byte(`{"schema":"kansa.audit/v1"}`))
	f.Add([]byte(`plain`))
	r, _ := New(Config{})
	c := r.NewClassifier()
	f.Fuzz(func(t *testing.T, line []byte) {
		if d := c.Route(line); d.To == Audit && !json.Valid(line) {
			t.Fatalf("invalid JSON routed to audit: %q", line)
		}
	})
}

func BenchmarkRouteApp(b *testing.B) {
	line := []byte(`{"method":"GET","path":"/orders/17","format":"html","controller":"OrdersController","action":"show","status":200,"duration":12.34,"view":1.2,"db":3.4,"request_id":"0d3c6a7e-6b1f-4c2a-9a55-5d1d3f0c9b11","time":"2024-08-06T18:00:59+09:00","user_agent":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36","remote_ip":"203.0.113.7","params":{"id":"17"}}`)
	r, _ := New(Config{})
	c := r.NewClassifier()
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		if c.Route(line).To != App {
			b.Fatal("misrouted")
		}
	}
}
