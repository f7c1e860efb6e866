package audit

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// discard is an Output that keeps nothing.
type discard struct{}

func (discard) Write([]byte) error          { return nil }
func (discard) Sync() error                 { return nil }
func (discard) Close(context.Context) error { return nil }

func benchScope() context.Context {
	return WithScope(context.Background(), Scope{
		Actor: Actor{Type: "User", ID: "42"}, IP: "203.0.113.7", UserAgent: "Mozilla/5.0",
		RequestID: "0190f1c2-7a3b-7c00-8000-000000000001", Endpoint: "PATCH /orders/{id}", Host: "shop.example",
	})
}

// BenchmarkRecord is the request path: what Record costs the caller. The
// changes slice is built by the caller (or an adapter) and counted here.
func BenchmarkRecord(b *testing.B) {
	l, err := New(Config{Output: discard{}, QueueSize: 1 << 16, Logger: quiet(), HeartbeatInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	ctx := benchScope()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.Record(ctx, Event{Action: ActionUpdate, Target: Target{Type: "Order", ID: "17", Table: "orders"},
			Changes: []Change{Diff("status", "paid", "shipped"), Diff("total", 1200, 1350)}})
		if i++; i%4096 == 0 { // let the writer catch up, off the clock: no event is dropped
			b.StopTimer()
			l.Flush(context.Background())
			b.StartTimer()
		}
	}
	b.StopTimer()
	if d := l.Stats().Dropped; d > 0 {
		b.Fatalf("%d dropped", d)
	}
}

// BenchmarkEncode is the writer goroutine's work per event.
func BenchmarkEncode(b *testing.B) {
	enc := newEncoder(Config{Source: "app:shop", Host: "web-1"}, "0123456789abcdef01234567")
	f := frameFrom(benchScope())
	en := entry{ev: Event{Action: ActionUpdate, Target: Target{Type: "Order", ID: "17", Table: "orders"},
		Changes: []Change{Diff("status", "paid", "shipped"), Diff("total", 1200, 1350)}},
		scope: f.snapshot(), n: 1, at: time.Now()}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.event(buf[:0], &en)
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkCapturedChangeCPU is the whole cost of one captured change —
// Record, encoding, the spool write and its periodic fsync — as process
// CPU time (user + system, all goroutines) per event, kansa down so that
// everything stays in the spool.
func BenchmarkCapturedChangeCPU(b *testing.B) {
	c, err := NewClient(ClientConfig{URL: "http://127.0.0.1:1", SpoolDir: b.TempDir(), MaxSpoolBytes: 8 << 30,
		MinBackoff: time.Hour, MaxBackoff: time.Hour, Logger: quiet()})
	if err != nil {
		b.Fatal(err)
	}
	l, err := New(Config{Output: c, QueueSize: 1 << 16, Logger: quiet(), HeartbeatInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	ctx := benchScope()
	b.ReportAllocs()
	cpu0 := cpuTime()
	i := 0
	for b.Loop() {
		l.Record(ctx, Event{Action: ActionUpdate, Target: Target{Type: "Order", ID: "17", Table: "orders"},
			Changes: []Change{Diff("status", "paid", "shipped"), Diff("total", 1200, 1350)}})
		if i++; i%4096 == 0 { // bursts of 4096, each made durable (fsync'd) before the next
			l.Flush(context.Background())
		}
	}
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/change")
	if st.Dropped > 0 {
		b.Fatalf("%d dropped", st.Dropped)
	}
	ctx2, cancel := context.WithCancel(context.Background())
	cancel()
	l.Close(ctx2)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEncodeChangeSet is encoding an event whose changes come from a
// ChangeSet, as the GORM adapter's do.
func BenchmarkEncodeChangeSet(b *testing.B) {
	enc := newEncoder(Config{Source: "app:shop", Host: "web-1"}, "0123456789abcdef01234567")
	en := entry{ev: Event{Action: ActionUpdate, Target: Target{Type: "Order", ID: "17", Table: "orders"},
		ChangeSet: &lateChanges{old: [2]int64{1, 2}, new: [2]int64{3, 4}}},
		scope: frameFrom(benchScope()).snapshot(), n: 1, at: time.Now()}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = enc.event(buf[:0], &en)
	}
}
