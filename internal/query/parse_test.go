package query

import (
	"errors"
	"net/netip"
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

// testNow is the "now" of relative times in these tests; now is the
// second 2024-08-08T12:34:56Z.
var testNow = time.Date(2024, 8, 8, 21, 34, 56, 789e6, time.FixedZone("JST", 9*3600))

// pat is a Pattern of parts.
func pat(parts ...string) Pattern { return Pattern{Parts: parts} }

// block is a Pattern of a CIDR block.
func block(s string) Pattern { return Pattern{Prefix: netip.MustParsePrefix(s)} }

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
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
		// A trailing * used to be a prefix kept in Actions; it is a
		// pattern now, and with it every value of action goes to a Filter.
		{"action:user.* action:destroy action:*", nil, Query{Filters: []Filter{
			{Field: FieldAction, Values: []Pattern{pat("user.", ""), pat("delete"), pat("", "")}},
		}}},
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

		// Commas: any of the values (OR), like repeating the qualifier.
		{"action:create,delete", nil, Query{Actions: []string{"create", "delete"}}},
		{"action:create,destroy action:update", nil, Query{Actions: []string{"create", "delete", "update"}}},
		{"actor:User:1,User:2", nil, Query{Actors: []event.Ref{{Type: "User", ID: "1"}, {Type: "User", ID: "2"}}}},
		// A comma in quotes is part of the id.
		{`actor:User:"a,b",User:2 target:AWS::S3::Bucket:"arn:aws:s3:::logs,old"`, nil, Query{
			Actors:  []event.Ref{{Type: "User", ID: "a,b"}, {Type: "User", ID: "2"}},
			Targets: []event.Ref{{Type: "AWS::S3::Bucket", ID: "arn:aws:s3:::logs,old"}},
		}},
		{`actor_type:User,Admin::Account target_type:Order,"Line Item" source:"app one",app:kakari tenant:acme,default request:r-1,r-2 request_id:r-3`, nil, Query{
			ActorTypes:  []string{"User", "Admin::Account"},
			TargetTypes: []string{"Order", "Line Item"},
			Sources:     []string{"app one", "app:kakari"},
			Tenants:     []string{"acme", "default"},
			RequestIDs:  []string{"r-1", "r-2", "r-3"},
		}},

		// Wildcards: a field with one goes to a Filter, with all its values.
		{"action:*.view", nil, Query{Filters: []Filter{{Field: FieldAction, Values: []Pattern{pat("", ".view")}}}}},
		{"action:create,*.view", nil, Query{Filters: []Filter{{Field: FieldAction, Values: []Pattern{pat("create"), pat("", ".view")}}}}},
		{"action:a*b*c action:**", nil, Query{Filters: []Filter{{Field: FieldAction, Values: []Pattern{pat("a", "b", "c"), pat("", "", "")}}}}},
		// A record pattern is over the text TYPE:ID.
		{"target:Order:*", nil, Query{Filters: []Filter{{Field: FieldTarget, Values: []Pattern{pat("Order:", "")}}}}},
		{"actor:Admin::* actor:*:42 actor:* actor:User:7", nil, Query{Filters: []Filter{
			{Field: FieldActor, Values: []Pattern{pat("Admin::", ""), pat("", ":42"), pat("", ""), pat("User:7")}},
		}}},
		{`target:AWS::S3::Bucket:"arn:aws:s3:::*" target:AWS::S3::Bucket:"arn:aws:s3:::logs"`, nil, Query{Filters: []Filter{
			{Field: FieldTarget, Values: []Pattern{pat("AWS::S3::Bucket:arn:aws:s3:::", ""), pat("AWS::S3::Bucket:arn:aws:s3:::logs")}},
		}}},
		{`actor:User:"a b*",User:"x,*"`, nil, Query{Filters: []Filter{
			{Field: FieldActor, Values: []Pattern{pat("User:a b", ""), pat("User:x,", "")}},
		}}},
		// In quotes, \* is a star: no wildcard, an exact value.
		{`actor:User:"a\*" source:"a\*b" action:"x\**"`, nil, Query{
			Actors:  []event.Ref{{Type: "User", ID: "a*"}},
			Sources: []string{"a*b"},
			Filters: []Filter{{Field: FieldAction, Values: []Pattern{pat("x*", "")}}},
		}},
		// Filters come in the order of the fields, whatever the order written.
		{`request_id:*-1 tenant:ac*me source:app:* source:"app one*" target_type:*Item actor_type:Admin::*`, nil, Query{Filters: []Filter{
			{Field: FieldActorType, Values: []Pattern{pat("Admin::", "")}},
			{Field: FieldTargetType, Values: []Pattern{pat("", "Item")}},
			{Field: FieldSource, Values: []Pattern{pat("app:", ""), pat("app one", "")}},
			{Field: FieldTenant, Values: []Pattern{pat("ac", "me")}},
			{Field: FieldRequestID, Values: []Pattern{pat("", "-1")}},
		}}},

		// Exclusions: none of the values; several all apply.
		{"-action:*.view", nil, Query{Filters: []Filter{{Field: FieldAction, Not: true, Values: []Pattern{pat("", ".view")}}}}},
		{"-actor:User:1,User:2 -actor:User:3", nil, Query{Filters: []Filter{
			{Field: FieldActor, Not: true, Values: []Pattern{pat("User:1"), pat("User:2"), pat("User:3")}},
		}}},
		{"-source:app:shop -action:destroy action:*.view action:update", nil, Query{Filters: []Filter{
			{Field: FieldAction, Values: []Pattern{pat("", ".view"), pat("update")}},
			{Field: FieldAction, Not: true, Values: []Pattern{pat("delete")}},
			{Field: FieldSource, Not: true, Values: []Pattern{pat("app:shop")}},
		}}},
		{"action:update -action:*.view -tenant:acme -request:r-1 -ip:10.0.0.0/8,192.168.*", nil, Query{
			Actions: []string{"update"},
			Filters: []Filter{
				{Field: FieldAction, Not: true, Values: []Pattern{pat("", ".view")}},
				{Field: FieldTenant, Not: true, Values: []Pattern{pat("acme")}},
				{Field: FieldRequestID, Not: true, Values: []Pattern{pat("r-1")}},
				{Field: FieldIP, Not: true, Values: []Pattern{block("10.0.0.0/8"), pat("192.168.", "")}},
			},
		}},

		// ip: addresses and blocks are exact; a block is masked, an
		// address is its /32 or /128, IPv4-mapped IPv6 is IPv4.
		{`ip:10.0.0.0/8 ip:2001:db8::/32 ip:192.168.1.1,2001:DB8::1 ip:10.1.2.3/8 ip:::ffff:10.0.0.1 ip:"fe80::1%eth0" ip:::ffff:10.0.0.0/104`, nil, Query{
			IPs: prefixes("10.0.0.0/8", "2001:db8::/32", "192.168.1.1/32", "2001:db8::1/128", "10.0.0.0/8", "10.0.0.1/32", "fe80::1/128", "10.0.0.0/8"),
		}},
		{"ip:10.0.* ip:10.0.0.0/8", nil, Query{Filters: []Filter{{Field: FieldIP, Values: []Pattern{pat("10.0.", ""), block("10.0.0.0/8")}}}}},

		// Free text: each word must be found, none of the -words.
		{`hello "two words" -bye -"x y" b@x.com`, nil, Query{Text: []string{"hello", "two words", "b@x.com"}, NotText: []string{"bye", "x y"}}},
		{`"a:b" "-1" "say \"hi\"" "\*" a,b foo-bar`, nil, Query{Text: []string{"a:b", "-1", `say "hi"`, "*", "a,b", "foo-bar"}}},
		{"action:update Taro", nil, Query{Actions: []string{"update"}, Text: []string{"Taro"}}},

		// Relative times count back from the second of testNow and stand
		// for a second, like a full time.
		{"created:now", nil, Query{Since: utc("2024-08-08T12:34:56Z"), Until: utc("2024-08-08T12:34:57Z")}},
		{"created:now-0s", nil, Query{Since: utc("2024-08-08T12:34:56Z"), Until: utc("2024-08-08T12:34:57Z")}},
		{"created:>now-7d", nil, Query{Since: utc("2024-08-01T12:34:57Z")}},
		{"created:>=now-7d", jst, Query{Since: utc("2024-08-01T12:34:56Z")}}, // the same in any zone
		{"created:now-14d..now-7d", nil, Query{Since: utc("2024-07-25T12:34:56Z"), Until: utc("2024-08-01T12:34:57Z")}},
		{"created:>=now-12h created:<now", nil, Query{Since: utc("2024-08-08T00:34:56Z"), Until: utc("2024-08-08T12:34:56Z")}},
		{"created:<=now-30m", nil, Query{Until: utc("2024-08-08T12:04:57Z")}},
		{"created:now-90s", nil, Query{Since: utc("2024-08-08T12:33:26Z"), Until: utc("2024-08-08T12:33:27Z")}},
		{"created:now-2w..*", nil, Query{Since: utc("2024-07-25T12:34:56Z")}},
		{"created:2024-08-01..now", jst, Query{Since: utc("2024-07-31T15:00:00Z"), Until: utc("2024-08-08T12:34:57Z")}},
		{`created:"now-1h"`, nil, Query{Since: utc("2024-08-08T11:34:56Z"), Until: utc("2024-08-08T11:34:57Z")}},
	}
	for _, c := range cases {
		got, err := ParseAt(c.in, c.loc, testNow)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q)\n got %+v\nwant %+v", c.in, got, c.want)
		}
	}
}

// Parse counts relative times back from the current time.
func TestParseCountsFromNow(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	q, err := Parse("created:>=now-1h", nil)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	if q.Since.Before(before.Add(-time.Hour)) || q.Since.After(after.Add(-time.Hour)) || q.Since.Location() != time.UTC {
		t.Errorf("created:>=now-1h between %v and %v: Since = %v", before, after, q.Since)
	}
}

const (
	valid   = "valid qualifiers: actor, actor_type, action, target, target_type, source, tenant, request_id (or request), ip, outcome, created"
	notTime = "is not a time; want a date (2024-08-01), a date and hour (2024-08-01T09), RFC 3339 (2024-08-01T09:00:00+09:00), or a time before now (now-7d)"
	notIP   = "is not an IP address or CIDR block; want an address (ip:10.0.0.1, ip:2001:db8::1), a block (ip:10.0.0.0/8, ip:2001:db8::/32) or a pattern (ip:10.0.*)"
	notRel  = "is not a time before now; want now, or now- a number and a unit (s, m, h, d or w), as in now-7d or now-12h"
)

func TestParseErrors(t *testing.T) {
	cases := []struct {
		in, want string
		offset   int
	}{
		{"actr:User:1", `unknown qualifier "actr" (did you mean actor?); ` + valid, 0},
		{"action:x Actor:User:1", `unknown qualifier "Actor" (did you mean actor?); ` + valid, 9},
		{"requst:r-1", `unknown qualifier "requst" (did you mean request?); ` + valid, 0},
		{"user:1", `unknown qualifier "user"; ` + valid + `; to search for the text user:1, quote it: "user:1"`, 0},
		{"-user:1", `unknown qualifier "user"; ` + valid + `; to search for the text user:1, quote it: -"user:1"`, 0},
		{"12:30", `unknown qualifier "12"; ` + valid + `; to search for the text 12:30, quote it: "12:30"`, 0},
		{":x", `missing qualifier before the colon in :x (` + valid + `); to search for the text, quote it: ":x"`, 0},
		{"-", "put one - right before a term to exclude what it matches, as in -action:*.view", 0},
		{"action:x - action:y", "put one - right before a term to exclude what it matches, as in -action:*.view", 9},
		{"--action:x", "put one - right before a term to exclude what it matches, as in -action:*.view", 0},
		{`source:"app one`, `unterminated quote in source:"app one (add the closing ")`, 0},
		{`action:x source:"a\"`, `unterminated quote in source:"a\" (add the closing ")`, 9},
		{"actor:", "actor: missing value, as in actor:User:42", 0},
		{"request:", "request: missing value, as in request_id:r-1", 0},
		{"-actor:", "actor: missing value, as in actor:User:42", 0},
		{"created:", "created: missing value, as in created:>=2024-08-01 (quote it in a shell: 'created:>=2024-08-01')", 0},
		{"actor:User", `actor: record "User": want TYPE:ID, such as Order:17 or AWS::S3::Bucket:"arn:aws:s3:::logs"`, 0},
		{"actor:User:", `actor: record "User:": want TYPE:ID, such as Order:17 or AWS::S3::Bucket:"arn:aws:s3:::logs"`, 0},
		{"actor:User:1,User", `actor: record "User": want TYPE:ID, such as Order:17 or AWS::S3::Bucket:"arn:aws:s3:::logs"`, 0},
		{":1 actor::1", `missing qualifier before the colon in :1 (` + valid + `); to search for the text, quote it: ":1"`, 0},
		{"actor::1", `actor: record ":1": want TYPE:ID, such as Order:17 or AWS::S3::Bucket:"arn:aws:s3:::logs"`, 0},
		{`actor:"User:a b"`, `actor: quote only the id, as in actor:Type:"a b"`, 0},
		{`actor:"User:*"`, `actor: quote only the id, as in actor:Type:"a b"`, 0},
		{`target:"My Type":1`, `target: quote only the id, as in target:Type:"a b"`, 0},
		{`actor:User:a"b c"d`, `actor: quote only the id, as in actor:Type:"a b"`, 0},
		{`actor:User:a"b*"`, `actor: record "User:a\"b*\"": quoted id must follow TYPE:`, 0},
		{`actor:User:""`, `actor: missing id in User:"", as in actor:User:42`, 0},
		{`actor:User:"a\q"`, `actor: record "User:\"a\\q\"": bad quoted id: invalid syntax`, 0},
		{`actor:User:"a"b`, `actor: record "User:\"a\"b": bad quoted id: invalid syntax`, 0},
		{`actor:x"y"`, `actor: record "x\"y\"": quoted id must follow TYPE:`, 0},
		{"id:1", `unknown qualifier "id" (did you mean ip?); ` + valid, 0},
		{`source:app"one"`, `source: quote the whole value, as in source:"a b"`, 0},
		{`source:"app"one`, `source: quote the whole value, as in source:"a b"`, 0},
		{`source:"a\q"`, `source: bad quoted value "a\q": inside quotes write \" for a quote and \\ for a backslash`, 0},
		{`tenant:""`, `tenant: empty value ""`, 0},
		{`tenant:acme,""`, `tenant: empty value ""`, 0},
		{"action:create,", "action: empty value in create,; separate values with one comma, as in action:create,delete", 0},
		{"actor:User:1,,User:2", "actor: empty value in User:1,,User:2; separate values with one comma, as in actor:User:1,User:2", 0},
		{"-source:,x", "source: empty value in ,x; separate values with one comma, as in source:app:kakari,app:shop", 0},
		{"outcome:ok", `outcome: want success or failure, got "ok"`, 0},
		{"outcome:success outcome:failure", "outcome: given twice (success and failure); leave it out to match both", 16},
		{"outcome:success,failure", "outcome: takes one value; leave it out to match both", 0},
		{"-outcome:failure", "outcome: write outcome:success instead of -outcome:failure", 0},
		{"-outcome:x", `outcome: want success or failure, got "x"`, 0},
		{"ip:10.0.0", `ip: "10.0.0" ` + notIP, 0},
		{"ip:10.0.0.0/33", `ip: "10.0.0.0/33" ` + notIP, 0},
		{"ip:localhost", `ip: "localhost" ` + notIP, 0},
		{"ip:fe80::1%eth0/64", `ip: "fe80::1%eth0/64" ` + notIP, 0},
		{"hello*", `free text hello*: leave out the *, text is found anywhere inside a value (for a star itself, write "\*")`, 0},
		{`-"a*b"`, `free text "a*b": leave out the *, text is found anywhere inside a value (for a star itself, write "\*")`, 0},
		{`foo"bar"`, `free text foo"bar": quote the whole phrase, as in "two words"`, 0},
		{`"a b"c`, `free text "a b"c: quote the whole phrase, as in "two words"`, 0},
		{`""`, `empty text ""`, 0},
		{`"a\q"`, `bad quoted text "a\q": inside quotes write \" for a quote and \\ for a backslash`, 0},
		{"created:yesterday", `created: "yesterday" ` + notTime, 0},
		{"created:>=", `created: "" ` + notTime, 0},
		{"created:2024-13-01", `created: "2024-13-01" ` + notTime, 0},
		{"created:2023-02-29", `created: "2023-02-29" ` + notTime, 0},
		{"created:2024-08-01T24", `created: "2024-08-01T24" ` + notTime, 0},
		{"created:2024-08-01+09:00", `created: "2024-08-01+09:00" ` + notTime, 0},
		{"created:2024-08-01T09:00:00.1234567891Z", `created: "2024-08-01T09:00:00.1234567891Z" ` + notTime, 0},
		{"created:2024-08-01T09:00:00+0900", `created: "2024-08-01T09:00:00+0900" ` + notTime, 0},
		{"created:0000-12-31", `created: "0000-12-31" is out of range (years 0001 to 9999)`, 0},
		{"created:0001-01-01", `created: "0001-01-01" is out of range (years 0001 to 9999)`, 0},
		{"created:9999-12-31T23:00:00-01:00", `created: "9999-12-31T23:00:00-01:00" is out of range (years 0001 to 9999)`, 0},
		{"created:2024-09-01..2024-08-01", "created: range 2024-09-01..2024-08-01 ends before it starts", 0},
		{"created:2024-08-01..", "created: range 2024-08-01.. needs both ends; use * for an open end, as in created:2024-08-01..*", 0},
		{"created:>=2024-08-01..2024-08-02", "created: use an operator (>=, >, <=, <, =) or a range (T1..T2), not both, in >=2024-08-01..2024-08-02", 0},
		{"created:2024-08-01,2024-08-02", "created: takes one value; to narrow the time, give one created term per bound, as in created:>=2024-08-01 created:<2024-09-01", 0},
		{"created:now-7", `created: "now-7" ` + notRel, 0},
		{"created:now-d", `created: "now-d" ` + notRel, 0},
		{"created:now-7y", `created: "now-7y" ` + notRel, 0},
		{"created:now+1d", `created: "now+1d" ` + notRel, 0},
		{"created:now-1.5h", `created: "now-1.5h" ` + notRel, 0},
		{"created:nowish", `created: "nowish" ` + notRel, 0},
		{"created:now-34m56s", `created: "now-34m56s" ` + notRel, 0},
		{"created:now-9999999w", `created: "now-9999999w" is out of range (years 0001 to 9999)`, 0},
		{"created:>now-999999999999999999999s", `created: "now-999999999999999999999s" is out of range (years 0001 to 9999)`, 0},
		{"created:now-7d..now-14d", "created: range now-7d..now-14d ends before it starts", 0},
		{"-created:>=2024-08-01", "created: times cannot be excluded; write created:<2024-08-01 instead", 0},
		{"-created:>now-7d", "created: times cannot be excluded; write created:<=now-7d instead", 0},
		{"-created:<=2024-08-01", "created: times cannot be excluded; write created:>2024-08-01 instead", 0},
		{"-created:<2024-08-01", "created: times cannot be excluded; write created:>=2024-08-01 instead", 0},
		{"-created:2024-08-01", "created: times cannot be excluded; search before (created:<2024-08-01) and after (created:>2024-08-01) separately", 0},
		{"-created:2024-08-01..2024-08-31", "created: times cannot be excluded; search before (created:<2024-08-01) and after (created:>2024-08-31) separately", 0},
		{"-created:*..2024-08-31", "created: times cannot be excluded; write created:>2024-08-31 instead", 0},
		{"-created:2024-08-01..*", "created: times cannot be excluded; write created:<2024-08-01 instead", 0},
		{"-created:*..*", "created: times cannot be excluded; -created:*..* would exclude every event", 0},
	}
	for _, c := range cases {
		q, err := ParseAt(c.in, nil, testNow)
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
		{"actor:User:42 action:update target:Order:17 created:>=2024-08-01 -action:*.view",
			"actor:User:42 action:update -action:*.view target:Order:17 created:>=2024-07-31T15:00:00Z"},
		{"action:create,delete request:r-1,r-2", "action:create action:delete request_id:r-1 request_id:r-2"},
		{`actor:User:"a,b",User:2 source:"a,b" tenant:"x\*y" actor:User:"a\*"`,
			`actor:User:"a,b" actor:User:2 actor:User:"a\*" source:"a,b" tenant:"x\*y"`},
		{"-actor:User:1,User:2 actor:Admin::* action:*.view -action:*.admin.view",
			"actor:Admin::* -actor:User:1 -actor:User:2 action:*.view -action:*.admin.view"},
		{`target:AWS::S3::Bucket:"arn:aws:s3:::*" -target:AWS::S3::Bucket:"arn:aws:s3:::logs"`,
			`target:AWS::S3::Bucket:arn:aws:s3:::* -target:AWS::S3::Bucket:arn:aws:s3:::logs`},
		{`-target:AWS::S3::Bucket:"arn:aws:s3:::a b" actor:User:"a b*",User:"x,*",User:"\**\"" actor:*`,
			`actor:User:"a b*" actor:User:"x,*" actor:User:"\**\"" actor:* -target:AWS::S3::Bucket:arn:aws:s3:::"a b"`},
		{`source:app:*,"app one*" tenant:ac*me request_id:*-1 actor_type:Admin::* target_type:*Item,"Line Item"`,
			`actor_type:Admin::* target_type:*Item target_type:"Line Item" source:app:* source:"app one*" tenant:ac*me request_id:*-1`},
		{"ip:10.1.2.3/8 ip:::ffff:10.0.0.1 ip:2001:DB8::1 ip:2001:db8::/32", "ip:10.0.0.0/8 ip:10.0.0.1 ip:2001:db8::1 ip:2001:db8::/32"},
		{"-ip:10.0.0.1 ip:10.0.*,10.0.0.0/8", "ip:10.0.* ip:10.0.0.0/8 -ip:10.0.0.1"},
		{`hello "two words" -bye "a:b" "-1" "\*" a,b -"x y"`, `hello "two words" "a:b" "-1" "\*" "a,b" -bye -"x y"`},
		{"created:>now-7d", "created:>=2024-08-01T12:34:57Z"},
		{"created:now-14d..now-7d outcome:failure", "outcome:failure created:>=2024-07-25T12:34:56Z created:<2024-08-01T12:34:57Z"},
	}
	for _, c := range cases {
		q, err := ParseAt(c.in, jst, testNow)
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
		"action:create,delete actor:User:1,User:2 -action:*.view",
		`actor:User:"a,b",User:"x*" target:AWS::S3::Bucket:"arn:aws:s3:::*" -target:Admin::* target:*`,
		`source:"a\*b*" tenant:ac*me,"x y" request:*-1 -request_id:r-1 -source:"a b"`,
		"ip:10.0.0.0/8,2001:db8::/32 ip:10.0.* -ip:::ffff:10.0.0.1 ip:10.1.2.3/8",
		`hello "two words" -bye "a:b" "\*" -"-1"`,
		"created:>now-7d created:now-14d..now created:<=now-90s created:now-2w..*",
		"-created:>=2024-08-01 -outcome:failure",
	} {
		f.Add(s)
	}
	jst := tokyo(f)
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseAt(s, jst, testNow)
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
