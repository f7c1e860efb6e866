package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
)

func ev(src, stream string, n uint64, at time.Time, action string) record.Entry {
	return record.Entry{Type: record.TypeEvent, Time: at.UnixMicro(), Tenant: []byte("t"), Source: []byte(src), Stream: []byte(stream), N: n,
		Body: fmt.Appendf(nil, `{"action":%q,"seq":{"stream":%q,"n":%d}}`, action, stream, n)}
}

// TestStreams: gaps across batches, numbers only in the WAL tail, a stream
// that stopped short of its heartbeat, and counts per source and day.
func TestStreams(t *testing.T) {
	ctx := context.Background()
	store, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.NewWriter(archive.Config{}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	d1 := time.Date(2024, 8, 6, 12, 0, 0, 0, time.UTC)
	d2 := d1.Add(24 * time.Hour)
	var b1, b2 []record.Entry
	for n := uint64(1); n <= 10; n++ {
		if n != 4 { // a: 4 is lost
			b1 = append(b1, ev("app", "a", n, d1, "update"))
		}
	}
	b1 = append(b1, ev("app", "b", 1, d1, "update"), ev("app", "b", 2, d1, "update"))
	for n := uint64(11); n <= 20; n++ {
		if n < 15 || n > 17 { // a: 15-17 lost
			b2 = append(b2, ev("app", "a", n, d2, "update"))
		}
	}
	// b's heartbeat says 5 numbers were assigned; 3 and 4 are in the WAL,
	// 5 is nowhere.
	b2 = append(b2, ev("app", "b", 5, d2, archive.HeartbeatAction))
	b2 = append(b2, record.Entry{Type: record.TypeReject, Time: d2.UnixMicro(), Source: []byte("stdin"), Body: []byte(`{"error_type":"decode"}`)})
	for i, b := range [][]record.Entry{b1, b2} {
		if _, err := w.Write(ctx, &archive.Batch{First: uint64(100*i + 1), Last: uint64(100*i + 100), Closed: d2, Entries: b}); err != nil {
			t.Fatal(err)
		}
	}
	// A third batch after WAL records 201-300 that reached no batch.
	if _, err := w.Write(ctx, &archive.Batch{First: 301, Last: 310, Closed: d2, Entries: []record.Entry{ev("app", "c", 1, d2, "update")}}); err != nil {
		t.Fatal(err)
	}
	var pending archive.Accounts
	for _, e := range []record.Entry{ev("app", "b", 3, d2, "update"), ev("app", "b", 4, d2, "update"), ev("app", "a", 21, d2, "update")} {
		pending.Add(&e)
	}
	rep, err := Build(ctx, Options{Store: store, Pending: pending, PendingKnown: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%+v", rep.Streams); got != "[{Stream:a Source:app First:1 Last:21 Count:17 Heartbeat:0 Missing:4 Gaps:[[4 4] [15 17]] ShortOfHeartbeat:false} "+
		"{Stream:b Source:app First:1 Last:4 Count:4 Heartbeat:5 Missing:1 Gaps:[[5 5]] ShortOfHeartbeat:true} "+
		"{Stream:c Source:app First:1 Last:1 Count:1 Heartbeat:0 Missing:0 Gaps:[] ShortOfHeartbeat:false}]" {
		t.Fatalf("streams %s", got)
	}
	if got := fmt.Sprintf("%+v", rep.Rows); got != "[{Source:app Day:2024-08-06 Received:11 Archived:11 Errors:0 Dropped:0 Pending:0} "+
		"{Source:app Day:2024-08-07 Received:12 Archived:9 Errors:0 Dropped:0 Pending:3} {Source:stdin Day:2024-08-07 Received:1 Archived:0 Errors:1 Dropped:0 Pending:0}]" {
		t.Fatalf("rows %s", got)
	}
	if got := fmt.Sprintf("%+v", rep.Writers); got != "[{Writer:w1 First:1 Last:310 Batches:3 Missing:100 Gaps:[[201 300]]}]" {
		t.Fatalf("writers %s", got)
	}
	if rep.OK() || rep.Total.Received != 24 {
		t.Fatalf("total %+v, ok %v", rep.Total, rep.OK())
	}
	only, err := Build(ctx, Options{Store: store, Since: d2, Until: d2})
	if err != nil || len(only.Rows) != 2 {
		t.Fatalf("--since/--until one day: %+v %v", only.Rows, err)
	}
}
