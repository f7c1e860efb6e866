package gormaudit

import (
	"context"
	"reflect"
	"sync"
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
// the diff against it, the new snapshot and Record. No database.
func BenchmarkUpdateCapture(b *testing.B) {
	p, err := New(benchLogger(b), Config{})
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
	for b.Loop() {
		// load
		p.snaps.put(addrOf(e), m.copyOf(ctx, e))
		// update: GORM assigns the new values to the model and builds SET
		o.Status, o.Total, o.UpdatedAt = "paid", 150, time.Now()
		set := clause.Set{
			{Column: clause.Column{Name: "status"}, Value: o.Status},
			{Column: clause.Column{Name: "total"}, Value: o.Total},
			{Column: clause.Column{Name: "updated_at"}, Value: o.UpdatedAt},
		}
		ptr := addrOf(e)
		old := p.snaps.get(ptr)
		changes, _ := m.updateChanges(ctx, set, e, old)
		if len(changes) != 2 {
			b.Fatalf("changes %v", changes)
		}
		id, _ := m.idOf(ctx, e)
		p.snaps.put(ptr, m.applied(ctx, old, set, e))
		p.log.Record(ctx, audit.Event{Action: audit.ActionUpdate, Target: p.target(m, stmt, id), Changes: changes})
		o.Status, o.Total = "new", 100
	}
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
		p.snaps.put(addrOf(e), m.copyOf(ctx, e))
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
