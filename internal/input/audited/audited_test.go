package audited

import (
	"testing"
	"time"
)

func TestChanges(t *testing.T) {
	for in, want := range map[string]string{
		"---\nname:\n- xxx\n- yyy\n": `{"name":["xxx","yyy"]}`,
		"---\nprice:\n- !ruby/object:BigDecimal 18:0.1e2\n- !ruby/object:BigDecimal 18:0.2e2\npublished_at:\n- \n- 2024-08-06 09:00:00.000000000 Z\ncount:\n- 1\n- 2\nflag: true\nid: 9007199254740993\n": `{"price":["18:0.1e2","18:0.2e2"],"published_at":[null,"2024-08-06 09:00:00.000000000 Z"],"count":[1,2],"flag":true,"id":9007199254740993}`,
		`{"name": ["xxx", "yyy"]}`:                           `{"name": ["xxx", "yyy"]}`,
		"---\nzip: '007'\nnote: \"a \\\"quoted\\\" word\"\n": `{"zip":"007","note":"a \"quoted\" word"}`,
	} {
		got, err := Changes(in)
		if err != nil || string(got) != want {
			t.Errorf("Changes(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	if _, err := Changes("- a\n- b\n"); err == nil {
		t.Error("a YAML list accepted as changes")
	}
}

func TestEvent(t *testing.T) {
	s := func(v string) *string { return &v }
	v := int64(2)
	w := &Row{ID: 41, AuditableID: s("17"), AuditableType: s("Order"), UserID: s("42"), UserType: s("User"), Username: s("alice"),
		Action: s("destroy"), Changes: s("---\nstatus: shipped\n"), Version: &v, RemoteAddress: s("192.0.2.1"), Request: s("req-1"),
		AssociatedType: s("Customer"), AssociatedID: s("7"), CreatedAt: time.Date(2024, 8, 6, 9, 0, 0, 123456789, time.UTC)}
	ev, err := Event(w, "audits", "audited:import", "default")
	if err != nil {
		t.Fatal(err)
	}
	if ev.Action != "delete" || ev.Target.Type != "Order" || ev.Target.ID != "17" || ev.Actor.ID != "42" || ev.Actor.Name != "alice" ||
		string(ev.Changes) != `{"status":"shipped"}` || ev.Context.IP != "192.0.2.1" || ev.Context.RequestID != "req-1" ||
		string(ev.Meta) != `{"audited":{"id":41,"version":2,"associated":{"type":"Customer","id":"7"}},"original_action":"destroy"}` ||
		ev.Time.Nanosecond() != 123456000 {
		t.Fatalf("%+v actor %+v meta %s", ev, ev.Actor, ev.Meta)
	}
	again, _ := Event(w, "audits", "audited:import", "default")
	if again.ID != ev.ID {
		t.Fatal("the same row, another id")
	}
}
