package query

import (
	"errors"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // Asia/Tokyo without the host's zoneinfo

	"github.com/kansa-audit/kansa/internal/event"
)

func tokyo(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func TestParse(t *testing.T) {
	jst := tokyo(t)
	cases := []struct {
		in   string
		loc  *time.Location
		want Query
	}{
		{"", nil, Query{}},
		{" \t\n\u3000", nil, Query{}},
		{"actor:User:42 action:update target:Order:17 created:>=2024-08-01", nil, Query{
			Actors:  []event.Ref{{Type: "User", ID: "42"}},
			Actions: []string{"update"},
			Targets: []event.Ref{{Type: "Order", ID: "17"}},
			Since:   utc("2024-08-01T00:00:00Z"),
		}},
		// The same query in Tokyo: the date starts at 15:00 UTC the day before.
		{"actor:User:42 created:>=2024-08-01", jst, Query{
			Actors: []event.Ref{{Type: "User", ID: "42"}},
			Since:  utc("2024-07-31T15:00:00Z"),
		}},
		// Full-width space between terms.
		{"action:create\u3000action:update", nil, Query{Actions: []string{"create", "update"}}},
		{"actor:Admin::Account:1 actor:User:2", nil, Query{
			Actors: []event.Ref{{Type: "Admin::Account", ID: "1"}, {Type: "User", ID: "2"}},
		}},
		{`target:AWS::S3::Bucket:"arn:aws:s3:::logs"`, nil, Query{
			Targets: []event.Ref{{Type: "AWS::S3::Bucket", ID: "arn:aws:s3:::logs"}},
		}},
		{`actor:User:"a b" actor:User:"say \"hi\""`, nil, Query{
			Actors: []event.Ref{{Type: "User", ID: "a b"}, {Type: "User", ID: `say "hi"`}},
		}},
		{"actor_type:Admin::Account target_type:Order target_type:Invoice", nil, Query{
			ActorTypes:  []string{"Admin::Account"},
			TargetTypes: []string{"Order", "Invoice"},
		}},
		{"action:user.* action:destroy action:*", nil, Query{Actions: []string{"user.*", "delete", "*"}}},
		{`source:app:kakari source:"app one" tenant:acme request_id:r-1 outcome:failure`, nil, Query{
			Sources:    []string{"app:kakari", "app one"},
			Tenants:    []string{"acme"},
			RequestIDs: []string{"r-1"},
			Outcome:    "failure",
		}},
		{"outcome:success outcome:success", nil, Query{Outcome: "success"}},
		// Times: each value is the span it writes out.
		{"created:2024-08-01", nil, Query{Since: utc("2024-08-01T00:00:00Z"), Until: utc("2024-08-02T00:00:00Z")}},
		{"created:=2024-08-01", jst, Query{Since: utc("2024-07-31T15:00:00Z"), Until: utc("2024-08-01T15:00:00Z")}},
		{"created:>2024-08-01", nil, Query{Since: utc("2024-08-02T00:00:00Z")}},
		{"created:<=2024-08-01", nil, Query{Until: utc("2024-08-02T00:00:00Z")}},
		{"created:<2024-08-01", nil, Query{Until: utc("2024-08-01T00:00:00Z")}},
		{"created:2024-08-01T09", jst, Query{Since: utc("2024-08-01T00:00:00Z"), Until: utc("2024-08-01T01:00:00Z")}},
		{"created:2024-08-01T09:30", nil, Query{Since: utc("2024-08-01T09:30:00Z"), Until: utc("2024-08-01T09:31:00Z")}},
		{"created:>=2024-08-01T09:00:00+09:00", nil, Query{Since: utc("2024-08-01T00:00:00Z")}},
		{"created:>2024-08-01T09:00:00+09:00", nil, Query{Since: utc("2024-08-01T00:00:01Z")}},
		{"created:<=2024-08-01T09:00:00.5Z", nil, Query{Until: utc("2024-08-01T09:00:00.6Z")}},
		{"created:<2024-08-01T09:00:00.123456789-05:30", nil, Query{Until: utc("2024-08-01T14:30:00.123456789Z")}},
		{"created:2024-08-01t09:00:00z", nil, Query{Since: utc("2024-08-01T09:00:00Z"), Until: utc("2024-08-01T09:00:01Z")}},
		{"created:2024-08-01T09:00:00", jst, Query{Since: utc("2024-08-01T00:00:00Z"), Until: utc("2024-08-01T00:00:01Z")}},
		{"created:2024-08-01..2024-08-31", nil, Query{Since: utc("2024-08-01T00:00:00Z"), Until: utc("2024-09-01T00:00:00Z")}},
		{"created:2024-08-01..*", nil, Query{Since: utc("2024-08-01T00:00:00Z")}},
		{"created:*..2024-08-31", jst, Query{Until: utc("2024-08-31T15:00:00Z")}},
		{"created:*..*", nil, Query{}},
		{`created:"2024-02-29"`, nil, Query{Since: utc("2024-02-29T00:00:00Z"), Until: utc("2024-03-01T00:00:00Z")}},
		// Several created terms narrow each other, in either order.
		{"created:<2024-09-01 created:>=2024-08-01 created:>=2024-07-01 created:<2024-12-01", nil, Query{
			Since: utc("2024-08-01T00:00:00Z"), Until: utc("2024-09-01T00:00:00Z"),
		}},
		{"created:>9999-12-31", nil, Query{Since: utc("9999-12-31T23:59:59Z").Add(time.Second)}},
		{"created:<0001-01-01T00:00:01Z", nil, Query{Until: utc("0001-01-01T00:00:01Z")}},
	}
	for _, c := range cases {
		got, err := Parse(c.in, c.loc)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

const valid = "valid qualifiers: actor, actor_type, action, target, target_type, source, tenant, request_id, outcome, created"

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in, want string
		offset   int
	}{
		{"actr:User:1", `unknown qualifier "actr" (did you mean actor?); ` + valid, 0},
		{"action:x Actor:User:1", `unknown qualifier "Actor" (did you mean actor?); ` + valid, 9},
		{"user:1", `unknown qualifier "user"; ` + valid, 0},
		{"-actor:User:1", `unknown qualifier "-actor" (did you mean actor?); ` + valid, 0},
		{"action:update hello", `free text "hello" is not supported yet: write qualifier:value terms; ` + valid, 14},
		{`"a:b"`, `free text "\"a:b\"" is not supported yet: write qualifier:value terms; ` + valid, 0},
		{":x", `free text ":x" is not supported yet: write qualifier:value terms; ` + valid, 0},
		{`source:"app one`, `unterminated quote in source:"app one (add the closing ")`, 0},
		{`action:x source:"a\"`, `unterminated quote in source:"a\" (add the closing ")`, 9},
		{"actor:", "actor: missing value, as in actor:User:42", 0},
		{"created:", "created: missing value, as in created:>=2024-08-01 (quote it in a shell: 'created:>=2024-08-01')", 0},
		{"actor:User", `actor: record "User": want TYPE:ID, such as Order:17 or AWS::S3::Bucket:"arn:aws:s3:::logs"`, 0},
		{"actor:User:", `actor: record "User:": want TYPE:ID, such as Order:17 or AWS::S3::Bucket:"arn:aws:s3:::logs"`, 0},
		{`actor:"User:a b"`, `actor: quote only the id, as in actor:Type:"a b"`, 0},
		{`target:"My Type":1`, `target: quote only the id, as in target:Type:"a b"`, 0},
		{`actor:User:a"b c"d`, `actor: quote only the id, as in actor:Type:"a b"`, 0},
		{`actor:User:""`, `actor: missing id in User:"", as in actor:User:42`, 0},
		{`actor:User:"a\q"`, `actor: record "User:\"a\\q\"": bad quoted id: invalid syntax`, 0},
		{`source:app"one"`, `source: quote the whole value, as in source:"a b"`, 0},
		{`source:"app"one`, `source: quote the whole value, as in source:"a b"`, 0},
		{`source:"a\q"`, `source: bad quoted value "a\q": inside quotes write \" for a quote and \\ for a backslash`, 0},
		{`tenant:""`, `tenant: empty value ""`, 0},
		{"action:*.login", "action: * is allowed only at the end, as a prefix: action:user.*", 0},
		{"outcome:ok", `outcome: want success or failure, got "ok"`, 0},
		{"outcome:success outcome:failure", "outcome: given twice (success and failure); leave it out to match both", 16},
		{"created:yesterday", `created: "yesterday" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:>=", `created: "" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:2024-13-01", `created: "2024-13-01" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:2023-02-29", `created: "2023-02-29" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:2024-08-01T24", `created: "2024-08-01T24" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:2024-08-01+09:00", `created: "2024-08-01+09:00" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:2024-08-01T09:00:00.1234567891Z", `created: "2024-08-01T09:00:00.1234567891Z" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:2024-08-01T09:00:00+0900", `created: "2024-08-01T09:00:00+0900" is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), or RFC 3339 (2024-08-01T09:00:00+09:00)`, 0},
		{"created:0000-12-31", `created: "0000-12-31" is out of range (years 0001 to 9999)`, 0},
		{"created:0001-01-01", `created: "0001-01-01" is out of range (years 0001 to 9999)`, 0},
		{"created:9999-12-31T23:00:00-01:00", `created: "9999-12-31T23:00:00-01:00" is out of range (years 0001 to 9999)`, 0},
		{"created:2024-09-01..2024-08-01", "created: range 2024-09-01..2024-08-01 ends before it starts", 0},
		{"created:2024-08-01..", "created: range 2024-08-01.. needs both ends; use * for an open end, as in created:2024-08-01..*", 0},
		{"created:>=2024-08-01..2024-08-02", "created: use an operator (>=, >, <=, <, =) or a range (T1..T2), not both, in >=2024-08-01..2024-08-02", 0},
	}
	for _, c := range cases {
		q, err := Parse(c.in, nil)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error %q", c.in, q, c.want)
			continue
		}
		if err.Error() != c.want {
			t.Errorf("Parse(%q) error\n got %s\nwant %s", c.in, err, c.want)
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error is %T, want *SyntaxError", c.in, err)
		} else if se.Offset != c.offset || c.in[se.Offset:se.Offset+len(se.Term)] != se.Term {
			t.Errorf("Parse(%q): error at %d term %q, want offset %d", c.in, se.Offset, se.Term, c.offset)
		}
	}
}

func TestStringRoundTrip(t *testing.T) {
	jst := tokyo(t)
	cases := []struct{ in, want string }{
		{"", ""},
		{"created:>=2024-08-01 target:Order:17 action:update actor:User:42",
			"actor:User:42 action:update target:Order:17 created:>=2024-07-31T15:00:00Z"},
		{`target:AWS::S3::Bucket:"arn:aws:s3:::logs" actor:User:"42" actor:User:"a b"`,
			`actor:User:42 actor:User:"a b" target:AWS::S3::Bucket:"arn:aws:s3:::logs"`},
		{`source:"app one" source:"x\ty" tenant:"t\"q" request_id:"\x00" outcome:failure actor_type:A target_type:"B C"`,
			`actor_type:A target_type:"B C" source:"app one" source:"x\ty" tenant:"t\"q" request_id:"\x00" outcome:failure`},
		{"action:user.* action:destroy", "action:user.* action:delete"},
		{"created:2024-08-01T09:00:00.5+09:00", "created:>=2024-08-01T00:00:00.5Z created:<2024-08-01T00:00:00.6Z"},
		{"created:>9999-12-31T23:59:59Z", "created:>9999-12-31T23:59:59Z"},
		{"created:9999-12-31", "created:>=9999-12-30T15:00:00Z created:<9999-12-31T15:00:00Z"},
		{"created:9999-12-31T23:59:59Z", "created:>=9999-12-31T23:59:59Z created:<=9999-12-31T23:59:59Z"},
	}
	for _, c := range cases {
		q, err := Parse(c.in, jst)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		s := q.String()
		if s != c.want {
			t.Errorf("Parse(%q).String()\n got %s\nwant %s", c.in, s, c.want)
		}
		q2, err := Parse(s, nil)
		if err != nil {
			t.Errorf("Parse(%q) (from %q): %v", s, c.in, err)
			continue
		}
		if !reflect.DeepEqual(q, q2) {
			t.Errorf("round trip of %q through %q\n got %+v\nwant %+v", c.in, s, q2, q)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"actor:User:42 action:update target:Order:17 created:>=2024-08-01",
		`target:AWS::S3::Bucket:"arn:aws:s3:::logs" actor:User:"a b"`,
		`actor:A::"x\"y" actor:A::1`,
		`source:"app one" tenant:"t\"q" request_id:"\x00\u3000" outcome:failure`,
		"action:user.* action:destroy actor_type:X target_type:Y",
		"created:2024-08-01..2024-08-31 created:>2024-08-01T09:00:00.5+09:00",
		"created:*..2024-08-01T09 created:<=9999-12-31 created:>0001-01-01T00:00:00Z",
		"created:2024-08-01T09:30 created:=2024-08-01t09:30:00z",
		"actr:User:1",
		`source:"unterminated`,
	} {
		f.Add(s)
	}
	jst := tokyo(f)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s, jst)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) error is %T", s, err)
			}
			if se.Offset < 0 || se.Offset+len(se.Term) > len(s) || s[se.Offset:se.Offset+len(se.Term)] != se.Term {
				t.Fatalf("Parse(%q): error at %d has term %q", s, se.Offset, se.Term)
			}
			return
		}
		text := q.String()
		q2, err := Parse(text, nil)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v; its String %q does not parse: %v", s, q, text, err)
		}
		if !reflect.DeepEqual(q, q2) {
			t.Fatalf("round trip of %q through %q\n got %+v\nwant %+v", s, text, q2, q)
		}
		if text2 := q2.String(); text2 != text {
			t.Fatalf("String not stable: %q then %q", text, text2)
		}
	})
}
