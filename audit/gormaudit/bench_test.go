package gormaudit

import (
	"context"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"
)

type discard struct{}

func (discard) Write([]byte) error          { return nil }
func (discard) Sync() error                 { return nil }
func (discard) Close(context.Context) error { return nil }

func benchLogger(b *testing.B) *audit.Logger {
	log, err := audit.New(audit.Config{Output: discard{}, Source: "app:bench", Host: "bench", QueueSize: 1 << 16, HeartbeatInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = log.Close(context.Background()) })
	return log
}

// BenchmarkUpdateCapture measures the plugin's own work for the update of
// a loaded model changing 2 of its 9 columns: the snapshot taken at load,
// the diff against it, the new snapshot and Record. No database. (The
// Logger encodes the events on its own goroutine meanwhile; it is given
// time to catch up, off the clock, every 4096 updates.)
func BenchmarkUpdateCapture(b *testing.B) {
	log := benchLogger(b)
	benchUpdates(b, log, func() {
		b.StopTimer()
		_ = log.Flush(context.Background())
		b.StartTimer()
	})
	if d := log.Stats().Dropped; d > 0 {
		b.Fatalf("%d dropped", d)
	}
}

// BenchmarkCapturedChangeCPU is the whole cost of one captured change —
// capture, diff, encoding and the spool write with its fsync every 4096
// changes — as process CPU time (user + system, all goroutines) per
// change: BenchmarkUpdateCapture recording to an audit.Client whose kansa
// is down, so that everything stays in the spool.
func BenchmarkCapturedChangeCPU(b *testing.B) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := audit.NewClient(audit.ClientConfig{URL: "http://127.0.0.1:1", SpoolDir: b.TempDir(), MaxSpoolBytes: 8 << 30,
		MinBackoff: time.Hour, MaxBackoff: time.Hour, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	log, err := audit.New(audit.Config{Output: c, Source: "app:bench", Host: "bench", QueueSize: 1 << 16, HeartbeatInterval: -1, Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	benchUpdates(b, log, func() { _ = log.Flush(context.Background()) })
	if err := log.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/change")
	if d := log.Stats().Dropped; d > 0 {
		b.Fatalf("%d dropped", d)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // kansa is down: leave the spool as it is
	_ = log.Close(ctx)
}

// benchUpdates runs b.N loads and updates of a model through the plugin's
// callbacks' own steps, recording to log, and calls flush every 4096.
func benchUpdates(b *testing.B, log *audit.Logger, flush func()) {
	p, err := New(log, Config{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := schema.Parse(&Order{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		b.Fatal(err)
	}
	m := p.newModel(s)
	ctx := audit.WithScope(context.Background(), audit.Scope{Actor: audit.Actor{Type: "User", ID: "1"}, RequestID: "r", Endpoint: "PATCH /orders/{id}"})
	stmt := &gorm.Statement{Table: "orders", Context: ctx}
	o := &Order{ID: 17, Customer: "ann", Status: "new", Total: 100, Note: strptr("n"), CreatedAt: time.Now(), UpdatedAt: time.Now()}
	e := reflect.ValueOf(o).Elem()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// load
		p.snaps.put(addrOf(e), nil, m.copyOf(ctx, e))
		// update: GORM assigns the new values to the model and builds SET
		o.Status, o.Total, o.UpdatedAt = "paid", 150, time.Now()
		set := clause.Set{
			{Column: clause.Column{Name: "status"}, Value: o.Status},
			{Column: clause.Column{Name: "total"}, Value: o.Total},
			{Column: clause.Column{Name: "updated_at"}, Value: o.UpdatedAt},
		}
		// afterUpdate, for one row
		ptr := addrOf(e)
		old := p.snapshot(m, ptr)
		cs, snap, _ := m.update(ctx, set, e, old)
		if cs == nil || len(cs.cols) != 2 {
			b.Fatalf("changes %v", cs)
		}
		id, _ := m.idOf(ctx, e)
		p.snaps.put(ptr, nil, snap)
		p.log.Record(ctx, audit.Event{Action: audit.ActionUpdate, Target: p.target(m, stmt, id), ChangeSet: cs})
		o.Status, o.Total = "new", 100
		if i++; i%4096 == 0 {
			flush()
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSnapshotLoad measures what a query adds per loaded row: the
// copy, and the weak key and cleanup of a model value seen for the first
// time.
func BenchmarkSnapshotLoad(b *testing.B) {
	p, err := New(benchLogger(b), Config{})
	if err != nil {
		b.Fatal(err)
	}
	s, err := schema.Parse(&Order{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		b.Fatal(err)
	}
	m := p.newModel(s)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		o := &Order{ID: 17, Customer: "ann", Status: "new", Total: 100, CreatedAt: time.Now(), UpdatedAt: time.Now()}
		e := reflect.ValueOf(o).Elem()
		p.snaps.put(addrOf(e), nil, m.copyOf(ctx, e))
	}
}

// BenchmarkUpdateSQLite is the same update through GORM on an in-memory
// SQLite database, with and without the plugin: the difference is what
// the plugin adds to a request.
func BenchmarkUpdateSQLite(b *testing.B) {
	for _, withPlugin := range []bool{false, true} {
		name := "without_plugin"
		if withPlugin {
			name = "with_plugin"
		}
		b.Run(name, func(b *testing.B) {
			db, err := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
			if err != nil {
				b.Fatal(err)
			}
			sqlDB, _ := db.DB()
			sqlDB.SetMaxOpenConns(1)
			b.Cleanup(func() { _ = sqlDB.Close() })
			if withPlugin {
				p, err := New(benchLogger(b), Config{})
				if err != nil {
					b.Fatal(err)
				}
				if err := db.Use(p); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.AutoMigrate(&Order{}); err != nil {
				b.Fatal(err)
			}
			db.Create(&Order{ID: 1, Customer: "ann", Status: "new", Total: 1})
			ctx := audit.WithScope(context.Background(), audit.Scope{Actor: audit.Actor{Type: "User", ID: "1"}, Endpoint: "PATCH /orders/{id}"})
			b.ReportAllocs()
			i := int64(0)
			for b.Loop() {
				var o Order
				if err := db.WithContext(ctx).First(&o, 1).Error; err != nil {
					b.Fatal(err)
				}
				i++
				o.Status, o.Total = "s", i
				if err := db.WithContext(ctx).Save(&o).Error; err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
