package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

const sdkLine = `{"schema":"kansa.audit/v1","id":"0190f1c2-7a3b-7c00-8000-000000000001","time":"2024-08-06T18:00:59.981+09:00","action":"update","actor":{"type":"User","id":42,"name":"Ayu"},"target":{"type":"Order","id":"17","table":"orders"},"changes":{"total":[9007199254740993,9007199254740995],"note":["a","名前"]},"context":{"ip":"203.0.113.7","request_id":"r-1"},"source":"app:kakari","seq":{"stream":"s1","n":5},"extra":{"k":1}}`

func TestDecodeEncodeRoundTrip(t *testing.T) {
	e, err := Decode([]byte(sdkLine))
	if err != nil {
		t.Fatal(err)
	}
	e.Normalize()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Actor.ID != "42" || e.Target.Table != "orders" || e.Tenant != "default" || e.Outcome != "success" {
		t.Fatalf("decoded %+v", e)
	}
	out := e.AppendJSON(nil)
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	for _, want := range []string{`"time":"2024-08-06T09:00:59.981000Z"`, `"time_offset":"+09:00"`, `9007199254740993`, `"meta":{"extra":{"k":1}}`, `"seq":{"stream":"s1","n":5}`} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("encoding lacks %s:\n%s", want, out)
		}
	}
	e2, err := Decode(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := e2.AppendJSON(nil); !bytes.Equal(got, out) {
		t.Errorf("re-encoding differs:\n%s\n%s", got, out)
	}
	if _, off := e2.Time.Zone(); off != 9*3600 {
		t.Errorf("offset lost: %d", off)
	}
}

// An event sent pretty-printed is stored on one line, its values intact:
// the archive is NDJSON, one event per line.
func TestEncodeOneLine(t *testing.T) {
	in := "{\"schema\":\"kansa.audit/v1\",\"time\":\"2024-08-06T18:00:59Z\",\"action\":\"update\",\r\n" +
		"\"actor\":{\"type\":\"User\",\"id\":42},\n\"changes\":{\n  \"status\": [\"paid\",\r\n \"a\\nb\"]\n},\n" +
		"\"origin\":{\"file\":\n\"x\"},\"meta\":{\"a\":\n1},\"extra\":[1,\n2]}"
	e, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	e.Normalize()
	out := e.AppendJSON(nil)
	if bytes.ContainsAny(out, "\r\n") || !json.Valid(out) {
		t.Fatalf("not one line of JSON: %q", out)
	}
	var got struct {
		Changes map[string][]string
		Origin  map[string]string
		Meta    map[string]any
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if s := got.Changes["status"]; len(s) != 2 || s[1] != "a\nb" || got.Origin["file"] != "x" || got.Meta["a"] != 1.0 || len(got.Meta["extra"].([]any)) != 2 {
		t.Fatalf("values changed: %s", out)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []struct{ line, field string }{
		{`{"schema":"kansa.audit/v2","time":"2024-01-01T00:00:00Z","action":"x"}`, "schema"},
		{`{"time":"yesterday","action":"x"}`, "time"},
		{`{"time":"2024-01-01T00:00:00Z","action":1}`, "action"},
		{`{"time":"2024-01-01T00:00:00Z","action":"x","actor":"bob"}`, "actor"},
		{`{"time":"2024-01-01T00:00:00Z","action":"x","actor":{"type":"User","uid":1}}`, "actor.uid"},
		{`{"time":"2024-01-01T00:00:00Z","action":"x","changes":[1]}`, "changes"},
		{`{"time":"2024-01-01T00:00:00Z","action":"x","context":{"ipaddr":"1"}}`, "context.ipaddr"},
		{`{"time":"2024-01-01T00:00:00Z","action":"x","seq":{"stream":"s","n":-1}}`, "seq.n"},
		{`{"time":"2024-01-01T00:00:00Z","action":"x","meta":{"a":1},"a":2}`, "meta.a"},
		{`{"time":"2024-01-01T00:00:00Z","action":"x","actor":{"type":"User","id":1.5}}`, "actor.id"},
	}
	for _, c := range cases {
		_, err := Decode([]byte(c.line))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("Decode(%s) = %v, want error on %q", c.line, err, c.field)
		}
	}
}

func TestValidate(t *testing.T) {
	base := func() *Event {
		e, err := Decode([]byte(sdkLine))
		if err != nil {
			t.Fatal(err)
		}
		e.Normalize()
		return e
	}
	cases := []struct {
		field string
		mut   func(*Event)
	}{
		{"id", func(e *Event) { e.ID = "" }},
		{"action", func(e *Event) { e.Action = "" }},
		{"actor.id", func(e *Event) { e.Actor.ID = "" }},
		{"target.type", func(e *Event) { e.Target.Type = "" }},
		{"source", func(e *Event) { e.Source = "" }},
		{"tenant", func(e *Event) { e.Tenant = "a\nb" }},
		{"outcome", func(e *Event) { e.Outcome = "ok" }},
		{"seq.n", func(e *Event) { e.Seq.N = 0 }},
		{"context.user_agent", func(e *Event) { e.Context.UserAgent = strings.Repeat("x", 5000) }},
	}
	for _, c := range cases {
		e := base()
		c.mut(e)
		var ve *ValidationError
		if err := e.Validate(); !errors.As(err, &ve) || ve.Field != c.field {
			t.Errorf("%s: Validate = %v", c.field, err)
		}
	}
}

func TestParseRef(t *testing.T) {
	for _, c := range []struct{ in, typ, id string }{
		{"Order:17", "Order", "17"},
		{"Admin::Setting:17", "Admin::Setting", "17"},
		{`AWS::S3::Bucket:"arn:aws:s3:::logs"`, "AWS::S3::Bucket", "arn:aws:s3:::logs"},
		{`Note:"say \"hi\""`, "Note", `say "hi"`},
	} {
		r, err := ParseRef(c.in)
		if err != nil || r.Type != c.typ || r.ID != c.id {
			t.Errorf("ParseRef(%q) = %+v, %v", c.in, r, err)
		}
		if r.String() != c.in {
			t.Errorf("String() = %q, want %q", r.String(), c.in)
		}
		if got := string(r.Append([]byte("x "))); got != "x "+c.in {
			t.Errorf("Append = %q, want %q", got, "x "+c.in)
		}
	}
	for _, bad := range []string{"Order", "Order:", ":17", `X:"unterminated`} {
		if _, err := ParseRef(bad); err == nil {
			t.Errorf("ParseRef(%q) accepted", bad)
		}
	}
}

func TestDeriveID(t *testing.T) {
	a := DeriveID([]byte("src"), []byte("line"))
	if a != DeriveID([]byte("src"), []byte("line")) {
		t.Fatal("not deterministic")
	}
	if a == DeriveID([]byte("srcl"), []byte("ine")) {
		t.Fatal("parts are not separated")
	}
	if len(a) != 36 || a[14] != '8' {
		t.Fatalf("not a UUIDv8: %s", a)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(sdkLine))
	f.Add([]byte(`{"time":"2024-01-01T00:00:00Z","action":"x","actor":null}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Decode(line)
		if err != nil {
			return
		}
		e.Normalize()
		if e.ID == "" {
			e.ID = DeriveID(line)
		}
		if e.Source == "" {
			e.Source = "fuzz"
		}
		if e.Validate() != nil {
			return
		}
		out := e.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("encoding of %q is invalid JSON: %s", line, out)
		}
		e2, err := Decode(out)
		if err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		if again := e2.AppendJSON(nil); !bytes.Equal(again, out) {
			t.Fatalf("unstable encoding:\n%s\n%s", out, again)
		}
	})
}

func BenchmarkDecodeEncode(b *testing.B) {
	line := []byte(sdkLine)
	var out []byte
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := Decode(line)
		if err != nil {
			b.Fatal(err)
		}
		e.Normalize()
		out = e.AppendJSON(out[:0])
	}
}

func TestAppendTime(t *testing.T) {
	for _, tm := range []time.Time{
		time.Date(2024, 8, 6, 18, 0, 59, 981123456, time.FixedZone("", 9*3600)),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Unix(0, 1000),
	} {
		if got, want := string(AppendTime(nil, tm)), tm.UTC().Format(TimeLayout); got != want {
			t.Errorf("AppendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

func TestTargetWithoutID(t *testing.T) {
	// A batch update by condition names the type of its rows, not one id.
	line := `{"schema":"kansa.audit/v1","id":"b1","time":"2024-01-01T00:00:00Z","action":"update","target":{"type":"Order","table":"orders"},"source":"app:x","tenant":"default","meta":{"where":"status = 'open'"}}`
	e, err := Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	e.Normalize()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	out := string(e.AppendJSON(nil))
	if !strings.Contains(out, `"target":{"type":"Order","table":"orders"}`) {
		t.Fatalf("encoded %s", out)
	}
	e.Target.Type = ""
	if err := e.Validate(); err == nil || !strings.Contains(err.Error(), "target.type") {
		t.Fatalf("a target without a type: %v", err)
	}
}

// TestDecoderReuses: a Decoder gives the same events as Decode, keeps
// nothing of the previous event, and allocates nothing for a stored event.
func TestDecoderReuses(t *testing.T) {
	full, err := Decode([]byte(sdkLine))
	if err != nil {
		t.Fatal(err)
	}
	full.Normalize()
	stored := full.AppendJSON(nil)
	bare := []byte(`{"schema":"kansa.audit/v1","id":"x","time":"2024-08-06T09:00:59.981000Z","action":"user.login","source":"s","tenant":"t","outcome":"success"}`)
	var d Decoder
	for range 2 {
		for _, line := range [][]byte{stored, bare, stored} {
			want, err := Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := got.AppendJSON(nil), want.AppendJSON(nil); !bytes.Equal(a, b) {
				t.Fatalf("Decoder gave\n%s\nDecode gave\n%s", a, b)
			}
			if (got.Actor == nil) != (want.Actor == nil) || (got.Seq == nil) != (want.Seq == nil) {
				t.Fatalf("Decoder kept parts of the previous event: %+v", got)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() { d.Decode(stored) }); n != 0 {
		t.Errorf("Decoder.Decode of a stored event: %v allocations, want 0", n)
	}
}

// BenchmarkDecoder: a stored event of the synthetic workload, decoded as
// the index and the pipeline's stages decode them.
func BenchmarkDecoder(b *testing.B) {
	line := []byte(`{"schema":"kansa.audit/v1","id":"018d915d-f3a7-768e-b390-794959e03596","time":"2024-02-10T04:54:30.055290Z","action":"delete","actor":{"type":"User","id":"197184"},"target":{"type":"Subscription","id":"175087","table":"subscriptions"},"changes":{"canceled_at":87417},"context":{"host":"web-09.prod.internal","ip":"63.13.92.130","user_agent":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Safari/129.0.1714.145","request_id":"406e71c1-e05b-4c3a-8715-6ef9844d66bb","endpoint":"GET /products/{id}"},"source":"app:shop","tenant":"default","outcome":"success","received_at":"2024-02-10T04:54:31.604290Z"}`)
	var d Decoder
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		if _, err := d.Decode(line); err != nil {
			b.Fatal(err)
		}
	}
}
