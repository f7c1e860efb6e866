package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/kansa-audit/kansa/internal/event"
)

var defaults = Defaults{Source: "stdin"}

func TestAuditLoggableVerbatim(t *testing.T) {
	line, err := os.ReadFile("testdata/line.json")
	if err != nil {
		t.Fatal(err)
	}
	line = bytes.TrimSpace(line)
	e, err := Map(line, Auto, defaults)
	if err != nil {
		t.Fatal(err)
	}
	if e.Time.UTC().Format(event.TimeLayout) != "2024-08-06T09:00:59.981000Z" {
		t.Errorf("time = %v", e.Time)
	}
	if _, off := e.Time.Zone(); off != 9*3600 {
		t.Errorf("offset = %d", off)
	}
	if *e.Target != (event.Target{Type: "ModelType", ID: "1"}) || *e.Actor != (event.Actor{Type: "Admin::Account", ID: "1"}) {
		t.Errorf("target %+v actor %+v", e.Target, e.Actor)
	}
	if e.Action != "update" || string(e.Changes) != `{"name":["xxx","yyy"]}` {
		t.Errorf("action %q changes %s", e.Action, e.Changes)
	}
	if e.Context.IP != "xxx.xxx.xxx.x" || e.Context.RequestID != "xxxxxxxxxx" {
		t.Errorf("context %+v", e.Context)
	}
	if e.Source != "stdin" || e.Tenant != "default" || !bytes.Equal(e.Original, line) {
		t.Errorf("source %q tenant %q original %q", e.Source, e.Tenant, e.Original)
	}
	e2, _ := Map(line, Auto, defaults)
	if e.ID == "" || e.ID != e2.ID {
		t.Errorf("ids not derived deterministically: %q %q", e.ID, e2.ID)
	}
	if !json.Valid(e.AppendJSON(nil)) {
		t.Error("encoding is not JSON")
	}
}

func TestAuditLoggableVariants(t *testing.T) {
	const base = `{"timestamp":"2024-08-06T18:00:59.981+09:00","record":{"auditable":{"id":9007199254740993,"type":"Order"},"user":null,"action":"destroy","changes":{"total":9007199254740993,"名前":"東京"},"comment":"c"},"container":"web"}`
	e, err := Map([]byte(base), Auto, defaults)
	if err != nil {
		t.Fatal(err)
	}
	if e.Actor != nil {
		t.Errorf("null user gave actor %+v", e.Actor)
	}
	if e.Action != "delete" || e.Target.ID != "9007199254740993" {
		t.Errorf("action %q target %+v", e.Action, e.Target)
	}
	if !bytes.Contains(e.Changes, []byte("9007199254740993")) {
		t.Errorf("changes lost exactness: %s", e.Changes)
	}
	var meta map[string]any
	if err := json.Unmarshal(e.Meta, &meta); err != nil || meta["original_action"] != "destroy" || meta["comment"] != "c" || meta["container"] != "web" {
		t.Errorf("meta = %s (%v)", e.Meta, err)
	}
}

func TestMapErrors(t *testing.T) {
	cases := []struct{ line, typ, want string }{
		{`{"timestamp":"2024-08-06T18:00:59Z","record":{"action":"update",`, "decode", "invalid JSON"},
		{`{"record":{"action":"update"}}`, "invalid", `"timestamp": required`},
		{`{"timestamp":"2024-08-06T18:00:59Z","record":{"action":"update","changes":"{not json"}}`, "invalid", `"record.changes"`},
		{`{"timestamp":"2024-08-06T18:00:59Z","record":{"action":"update","changes":"[1]"}}`, "invalid", "want an object"},
		{`{"timestamp":"2024-08-06T18:00:59Z","record":{"action":"update","user":{"type":"User"}}}`, "invalid", `"record.user.id": required`},
		{`{"timestamp":"2024-08-06T18:00:59Z","record":{"changes":{}}}`, "invalid", `"record.action": required`},
		{`{"schema":"kansa.audit/v1","action":"x"}`, "invalid", `"time": required`},
		{`{"hello":"world"}`, "map", "not an event"},
	}
	for _, c := range cases {
		_, err := Map([]byte(c.line), Auto, defaults)
		var me *Error
		if !errors.As(err, &me) || me.Type != c.typ || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Map(%s) = %v, want %s error containing %q", c.line, err, c.typ, c.want)
		}
	}
}

func TestKansaShape(t *testing.T) {
	line := `{"schema":"kansa.audit/v1","time":"2024-08-06T18:00:59.981+09:00","action":"user.login","actor":{"type":"User","id":"42"},"outcome":"failure","meta":{"error":"bad password"},"received_at":"2020-01-01T00:00:00Z"}`
	e, err := Map([]byte(line), Auto, Defaults{Source: "http", Tenant: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Source != "http" || e.Tenant != "acme" || e.Outcome != "failure" || e.Original != nil || !e.ReceivedAt.IsZero() {
		t.Errorf("%+v", e)
	}
}

func FuzzMap(f *testing.F) {
	f.Add([]byte(`{"timestamp":"2024-08-06T18:00:59.981+09:00","record":{"auditable":{"id":1,"type":"ModelType"},"user":{"id":1,"type":"Admin::Account"},"action":"update","changes":"{\"name\":[\"xxx\",\"yyy\"]}","remote_address":"x","request_uuid":"y"}}`))
	f.Add([]byte(`{"schema":"kansa.audit/v1","time":"2024-08-06T18:00:59Z","action":"a","target":{"type":"T","id":"1"}}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		e, err := Map(line, Auto, defaults)
		if err != nil {
			return
		}
		out := e.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("invalid encoding %s", out)
		}
		back, err := event.Decode(out)
		if err != nil {
			t.Fatalf("stored event does not decode: %v\n%s", err, out)
		}
		if back.ID != e.ID || back.Action != e.Action {
			t.Fatalf("round trip changed the event: %s", out)
		}
	})
}

func BenchmarkMapAuditLoggable(b *testing.B) {
	line := []byte(`{"timestamp":"2024-08-06T18:00:59.981+09:00","record":{"auditable":{"id":1,"type":"ModelType"},"user":{"id":1,"type":"Admin::Account"},"action":"update","changes":"{\"name\":[\"xxx\",\"yyy\"],\"address\":[\"東京都渋谷区1-2-3 サンプルビル 4F\",\"大阪府大阪市北区4-5-6\"]}","remote_address":"203.0.113.7","request_uuid":"0d3c6a7e-6b1f-4c2a-9a55-5d1d3f0c9b11"}}`)
	var out []byte
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		e, err := Map(line, Auto, defaults)
		if err != nil {
			b.Fatal(err)
		}
		out = e.AppendJSON(out[:0])
	}
}
