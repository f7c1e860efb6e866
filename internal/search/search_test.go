package search_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/query"
)

func ingest(t *testing.T, n *node.Node, lines ...string) {
	t.Helper()
	var recs [][]byte
	for _, l := range lines {
		e, err := event.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		e.Normalize()
		recs = append(recs, node.AppendEvent(nil, e, time.Now()))
	}
	last, err := n.Ingest.Append(context.Background(), recs, node.Refuse)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ingest.Sync(context.Background(), last, len(recs)); err != nil {
		t.Fatal(err)
	}
}

func ev(id, tm, actor string) string {
	return fmt.Sprintf(`{"id":%q,"time":%q,"action":"update","actor":{"type":"User","id":%q},"source":"s"}`, id, tm, actor)
}

// TestScanArchiveAndTail finds events in the archive and in the WAL's tail,
// newest first, each (tenant, source, id) once, and honours the limit.
func TestScanArchiveAndTail(t *testing.T) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	ingest(t, n, ev("a", "2024-08-01T00:00:00Z", "1"), ev("b", "2024-08-03T00:00:00Z", "1"), ev("c", "2024-08-02T00:00:00Z", "2"))
	// Deliver them to the archive, then restart: a, b, c are archived.
	if err := n.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	n, err = node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	// b again (a retry) and d: still in the WAL.
	ingest(t, n, ev("b", "2024-08-03T00:00:00Z", "1"), ev("d", "2024-08-04T00:00:00Z", "1"))

	ids := func(q string, limit int) string {
		pq, err := query.Parse(q, nil)
		if err != nil {
			t.Fatal(err)
		}
		pq.Limit = limit
		hits, err := n.Search.Search(context.Background(), &pq)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hits {
			out = append(out, h.Event.ID)
			if !bytes.Contains(h.Raw, []byte(`"id":"`+h.Event.ID+`"`)) {
				t.Errorf("raw bytes of %s are not its event: %s", h.Event.ID, h.Raw)
			}
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		q     string
		limit int
		want  string
	}{
		{"", 0, "d,b,c,a"},
		{"actor:User:1", 0, "d,b,a"},
		{"actor:User:1", 2, "d,b"},
		{"created:2024-08-02..2024-08-03", 0, "b,c"},
		{"actor:User:9", 0, ""},
	} {
		if got := ids(c.q, c.limit); got != c.want {
			t.Errorf("search %q limit %d = %s, want %s", c.q, c.limit, got, c.want)
		}
	}
}
