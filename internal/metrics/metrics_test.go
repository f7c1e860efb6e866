package metrics

import (
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	r := NewRegistry()
	r.Counter("kansa_routed_total", "Lines routed.", "route", "audit").Add(3)
	r.Counter("kansa_routed_total", "Lines routed.", "route", "audit").Inc()
	r.Counter("kansa_routed_total", "Lines routed.", "route", `a"b`).Inc()
	r.Gauge("kansa_wal_bytes", "WAL size.", func() float64 { return 42 })
	var b strings.Builder
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	want := "# HELP kansa_routed_total Lines routed.\n# TYPE kansa_routed_total counter\nkansa_routed_total{route=\"audit\"} 4\nkansa_routed_total{route=\"a\\\"b\"} 1\n# HELP kansa_wal_bytes WAL size.\n# TYPE kansa_wal_bytes gauge\nkansa_wal_bytes 42\n"
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}
