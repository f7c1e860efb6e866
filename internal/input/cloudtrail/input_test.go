package cloudtrail

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/input"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// recorder is an input.Appender that keeps what it is given (the node's
// WAL is tested in cmd/kansa's tests of this input).
type recorder struct {
	events []*event.Event
	bad    []input.Bad
	n      uint64
}

func (r *recorder) Append(_ context.Context, evs []*event.Event, bad []input.Bad, _, _ string, _ time.Time) (uint64, error) {
	r.events = append(r.events, evs...)
	r.bad = append(r.bad, bad...)
	r.n += uint64(len(evs) + len(bad))
	return r.n, nil
}

func (r *recorder) Sync(context.Context, uint64, int) error { return nil }

func TestIngest(t *testing.T) {
	dir := t.TempDir()
	st, err := objstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	plain, _ := os.ReadFile(sampleDir + "123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json")
	broken := strings.TrimSuffix(strings.TrimSpace(string(plain)), "]}") + `, {"eventID": oops`
	st.Put(ctx, "good.json", plain)
	st.Put(ctx, "broken.json", []byte(broken))
	st.Put(ctx, "garbage.json.gz", []byte{0x1f, 0x8b, 1, 2, 3})
	rec := &recorder{}
	in := &Input{cfg: Config{Fetchers: 2}, app: rec, log: slog.New(slog.DiscardHandler), tenant: "default", buckets: map[string]objstore.Store{"b": st}}
	ingest := func(key string) (uint64, int, error) {
		f := in.fetch(ctx, []Object{{"b", key}})[0]
		if f.err != nil {
			return 0, 0, f.err
		}
		return in.ingest(ctx, Object{"b", key}, f.raw)
	}

	if _, n, err := ingest("good.json"); err != nil || n != 3 || len(rec.bad) != 0 {
		t.Fatalf("good: %d events, %v, %d bad", n, err, len(rec.bad))
	}
	if rec.events[0].Origin == nil || !strings.Contains(string(rec.events[0].Origin), `"file":"s3://b/good.json"`) {
		t.Fatalf("origin %s", rec.events[0].Origin)
	}
	// JSON broken after three good records: the file goes to the error
	// output whole, and no error stops the input.
	rec.events, rec.bad = nil, nil
	_, n, err := ingest("broken.json")
	if err != nil || n != 0 || len(rec.bad) != 1 || !strings.Contains(rec.bad[0].Err.Error(), "s3://b/broken.json") || string(rec.bad[0].Line) != broken {
		t.Fatalf("broken: %d events, %v, %d bad", n, err, len(rec.bad))
	}
	rec.bad = nil
	if _, n, err := ingest("garbage.json.gz"); err != nil || n != 0 || len(rec.bad) != 1 {
		t.Fatalf("garbage: %d events, %v, %d bad", n, err, len(rec.bad))
	}
	if _, _, err := ingest("missing.json"); !errors.As(err, new(errUnreadable)) || !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	// Fetched together, in order; a file named twice is read once.
	r := &round{}
	objs := in.todo([]Object{{"b", "good.json"}, {"b", "AWSLogs/1/CloudTrail-Digest/x.json.gz"}, {"b", "missing.json"}, {"b", "good.json"}}, r)
	got := in.fetch(ctx, objs)
	if len(objs) != 2 || got[0].err != nil || len(got[0].raw) != len(plain) || !errors.As(got[1].err, new(errUnreadable)) {
		t.Fatalf("todo %v, fetched %v", objs, got)
	}
}
