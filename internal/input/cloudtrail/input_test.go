package cloudtrail

import (
	"context"
	"errors"
	"fmt"
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
	if _, n, err := ingest("garbage.json.gz"); err != nil || n != 0 || len(rec.bad) != 1 || string(rec.bad[0].Line) != "\x1f\x8b\x01\x02\x03" {
		t.Fatalf("garbage: %d events, %v, %d bad (the error output keeps the file as it was)", n, err, len(rec.bad))
	}
	if _, _, err := ingest("missing.json"); !errors.As(err, new(errUnreadable)) || !errors.Is(err, objstore.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
	// Fetched together, in order; a file named twice is read once.
	objs := in.todo([]Object{{"b", "good.json"}, {"b", "AWSLogs/1/CloudTrail-Digest/x.json.gz"}, {"b", "missing.json"}, {"b", "good.json"}})
	got := in.fetch(ctx, objs)
	if len(objs) != 2 || got[0].err != nil || len(got[0].raw) != len(plain) || !errors.As(got[1].err, new(errUnreadable)) {
		t.Fatalf("todo %v, fetched %v", objs, got)
	}
}

func TestLedger(t *testing.T) {
	dir := t.TempDir()
	l := &ledger{path: dir + "/cloudtrail-x.json"}
	if err := l.load(); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-3 * 24 * time.Hour).Unix()
	var files []string
	for i := range 3000 {
		files = append(files, fmt.Sprintf("s3://b/k%d", i))
	}
	if err := l.note(files, old); err != nil {
		t.Fatal(err)
	}
	if err := l.note([]string{"s3://b/new"}, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	// A crash mid-append leaves part of a line: it is not a file read.
	f, _ := os.OpenFile(l.donePath(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("1700000000\ts3://b/par")
	f.Close()
	l2 := &ledger{path: l.path}
	if err := l2.load(); err != nil || !l2.has("s3://b/k2999") || !l2.has("s3://b/new") || l2.has("s3://b/par") || l2.lines != 3001 {
		t.Fatalf("reload: %v, %d lines", err, l2.lines)
	}
	// Forgetting most lines rewrites the file with the rest.
	if err := l2.forget(func(_ string, at int64) bool { return at == old }); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(l.donePath())
	if l2.lines != 1 || strings.Count(string(data), "\n") != 1 || !strings.Contains(string(data), "s3://b/new") {
		t.Fatalf("after forgetting: %d lines\n%s", l2.lines, data)
	}
	os.WriteFile(l.donePath(), []byte("oops\n"), 0o644)
	if err := l2.load(); err == nil {
		t.Fatal("a corrupt line accepted")
	}
	in := &Input{cfg: Config{Bucket: "b"}, ledger: ledger{}}
	in.ledger.st.Days = map[string]string{"AWSLogs/1/CloudTrail/us-east-1/": "2024/10/12"}
	for file, want := range map[string]bool{
		"s3://b/AWSLogs/1/CloudTrail/us-east-1/2024/10/10/f.json.gz": true,
		"s3://b/AWSLogs/1/CloudTrail/us-east-1/2024/10/11/f.json.gz": false,
		"s3://b/AWSLogs/1/CloudTrail/eu-west-1/2024/10/01/f.json.gz": false, // a stream not reached yet
		"s3://other/AWSLogs/1/CloudTrail/us-east-1/2024/10/01/f.gz":  false,
	} {
		if got := in.listedNoMore(file, 0); got != want {
			t.Errorf("listedNoMore(%s) = %v", file, got)
		}
	}
}
