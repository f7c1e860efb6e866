package gormaudit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Order is the model most tests use: eight columns, one redacted by tag,
// one left out by tag.
type Order struct {
	ID        int64 `gorm:"primaryKey"`
	Customer  string
	Status    string
	Total     int64
	Note      *string
	Secret    string `audit:"redacted"`
	Internal  string `audit:"-"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Line has a composite primary key.
type Line struct {
	OrderID int64  `gorm:"primaryKey;autoIncrement:false"`
	SKU     string `gorm:"primaryKey"`
	Qty     int
}

// Ticket is soft-deleted.
type Ticket struct {
	ID        uint `gorm:"primaryKey"`
	Title     string
	DeletedAt gorm.DeletedAt `gorm:"index"`
}

var allModels = []any{&Order{}, &Line{}, &Ticket{}}

func strptr(s string) *string { return &s }

// changes renders an event's changes as col=json pairs in column order.
func changes(ev event, cols ...string) string {
	var parts []string
	for _, c := range cols {
		parts = append(parts, c+"="+ev.change(c))
	}
	return strings.Join(parts, " ")
}

func TestCreate(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		o := Order{Customer: "ann", Status: "new", Total: 1200, Note: strptr("gift"), Secret: "s3cret", Internal: "x"}
		e.must(e.db.Create(&o))
		ev := e.wantEvents(1)[0]
		if ev.Action != "create" {
			t.Errorf("action = %q", ev.Action)
		}
		want := audit.Target{Type: "Order", ID: fmt.Sprint(o.ID), Table: "orders"}
		if ev.Target != want {
			t.Errorf("target = %+v, want %+v", ev.Target, want)
		}
		got := changes(ev, "id", "customer", "status", "total", "note", "secret", "internal")
		wantCh := fmt.Sprintf(`id=%d customer="ann" status="new" total=1200 note="gift" secret="[REDACTED]" internal=`, o.ID)
		if got != wantCh {
			t.Errorf("changes:\n got %s\nwant %s", got, wantCh)
		}
		if ev.change("created_at") == "" || ev.change("updated_at") == "" {
			t.Errorf("timestamps missing from create: %s", ev.Line)
		}
		if ev.Meta != nil {
			t.Errorf("meta = %v", ev.Meta)
		}

		// a batch create records each row
		lines := []Line{{OrderID: o.ID, SKU: "a,b", Qty: 1}, {OrderID: o.ID, SKU: `c\d`, Qty: 2}}
		e.must(e.db.Create(&lines))
		evs := e.wantEvents(2)
		for i, wantID := range []string{fmt.Sprintf(`%d,a\,b`, o.ID), fmt.Sprintf(`%d,c\\d`, o.ID)} {
			if evs[i].Target.ID != wantID || evs[i].Target.Type != "Line" {
				t.Errorf("line %d target = %+v, want id %s", i, evs[i].Target, wantID)
			}
		}

		// from maps
		e.must(e.db.Model(&Line{}).Create(map[string]any{"order_id": o.ID, "sku": "m", "qty": 5}))
		ev = e.wantEvents(1)[0]
		if ev.Target.ID != fmt.Sprintf("%d,m", o.ID) || ev.change("qty") != "5" {
			t.Errorf("map create: %s", ev.Line)
		}
		e.must(e.db.Model(&Line{}).Create([]map[string]any{{"order_id": o.ID, "sku": "n"}, {"order_id": o.ID, "sku": "o"}}))
		if evs := e.wantEvents(2); evs[1].Target.ID != fmt.Sprintf("%d,o", o.ID) {
			t.Errorf("maps create: %s", evs[1].Line)
		}
	})
}

func TestUpdateLoadedModel(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		e.must(e.db.Create(&Order{ID: 7, Customer: "ann", Status: "new", Total: 100, Secret: "a"}))
		e.events()

		var o Order
		e.must(e.db.First(&o, 7))
		o.Status = "paid"
		o.Total = 150
		e.must(e.db.Save(&o)) // writes every column; only two changed
		ev := e.wantEvents(1)[0]
		if ev.Action != "update" || ev.Target.ID != "7" {
			t.Fatalf("event: %s", ev.Line)
		}
		if len(ev.Changes) != 2 || changes(ev, "status", "total") != `status=["new","paid"] total=[100,150]` {
			t.Errorf("changes: %s", ev.Line)
		}
		if ev.Meta != nil {
			t.Errorf("meta: %v", ev.Meta)
		}

		// the second update diffs against the saved state
		e.must(e.db.Model(&o).Updates(map[string]any{"status": "shipped", "total": 150}))
		ev = e.wantEvents(1)[0]
		if len(ev.Changes) != 1 || ev.change("status") != `["paid","shipped"]` {
			t.Errorf("second update: %s", ev.Line)
		}

		// an update that changes nothing but updated_at records nothing
		e.must(e.db.Model(&o).Update("status", "shipped"))
		e.wantEvents(0)

		// a struct update, a redacted column and a left-out one
		e.must(e.db.Model(&o).Updates(Order{Secret: "b", Internal: "changed", Note: strptr("n")}))
		ev = e.wantEvents(1)[0]
		if got := changes(ev, "secret", "note"); got != `secret=["[REDACTED]","[REDACTED]"] note=[null,"n"]` || len(ev.Changes) != 2 {
			t.Errorf("struct update: %s", ev.Line)
		}
		e.must(e.db.Model(&o).Update("internal", "again"))
		e.wantEvents(0)

		// a loaded slice: each element diffs against its own snapshot
		e.must(e.db.Create(&Order{ID: 8, Customer: "bob", Status: "new"}))
		e.events()
		var os []Order
		e.must(e.db.Order("id").Find(&os))
		os[1].Customer = "robert"
		e.must(e.db.Save(&os[1]))
		ev = e.wantEvents(1)[0]
		if ev.Target.ID != "8" || len(ev.Changes) != 1 || ev.change("customer") != `["bob","robert"]` {
			t.Errorf("slice element: %s", ev.Line)
		}

		// a model loaded with some columns only has no snapshot
		var part Order
		e.must(e.db.Select("id", "status").First(&part, 8))
		part.Customer = "zed"
		e.must(e.db.Save(&part))
		ev = e.wantEvents(1)[0]
		if ev.Meta["old_values"] != "unknown" || ev.change("customer") != `"zed"` {
			t.Errorf("partial load: %s", ev.Line)
		}

		// so has a model loaded by raw SQL
		var raw Order
		e.must(e.db.Raw("SELECT id, status FROM orders WHERE id = 8").Find(&raw))
		raw.Status = "raw"
		e.must(e.db.Model(&raw).Update("status", "raw"))
		ev = e.wantEvents(1)[0]
		if ev.Meta["old_values"] != "unknown" || ev.change("status") != `"raw"` {
			t.Errorf("raw load: %s", ev.Line)
		}

		// an expression: its value is the database's
		e.must(e.db.Model(&os[0]).Update("total", gorm.Expr("total + ?", 1)))
		ev = e.wantEvents(1)[0]
		if ev.Meta["expressions"] == nil || len(ev.Changes) != 0 {
			t.Errorf("expression: %s", ev.Line)
		}
		// the snapshot is gone with it: the next update's old values are unknown
		e.must(e.db.Model(&os[0]).Update("status", "x"))
		ev = e.wantEvents(1)[0]
		if ev.Meta["old_values"] != "unknown" || ev.change("status") != `"x"` {
			t.Errorf("after expression: %s", ev.Line)
		}
	})
}

func TestUpdateWithoutLoadedModel(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		e.must(e.db.Create(&[]Order{{ID: 1, Status: "new"}, {ID: 2, Status: "new"}, {ID: 3, Status: "done"}}))
		e.events()

		// a model with only its key: one event, old values unknown
		e.must(e.db.Model(&Order{ID: 1}).Update("status", "paid"))
		ev := e.wantEvents(1)[0]
		if ev.Target.ID != "1" || ev.change("status") != `"paid"` || ev.Meta["old_values"] != "unknown" {
			t.Errorf("by key: %s", ev.Line)
		}
		if _, ok := ev.Changes["updated_at"]; ok {
			t.Errorf("updated_at recorded: %s", ev.Line)
		}

		// a batch: one event with the WHERE clause and no id
		e.must(e.db.Model(&Order{}).Where("status = ?", "new").Updates(map[string]any{"status": "late", "secret": "z"}))
		ev = e.wantEvents(1)[0]
		if ev.Target.ID != "" || ev.Target.Type != "Order" || ev.Target.Table != "orders" {
			t.Errorf("batch target: %s", ev.Line)
		}
		if ev.change("status") != `"late"` || ev.change("secret") != `"[REDACTED]"` || ev.Meta["old_values"] != "unknown" {
			t.Errorf("batch changes: %s", ev.Line)
		}
		// the model has a redacted column, so the arguments stay out
		if ev.Meta["where"] != "status = ?" && ev.Meta["where"] != "status = $1" || ev.Meta["rows_affected"] != float64(1) {
			t.Errorf("batch meta: %v", ev.Meta)
		}

		// nothing matched: nothing recorded
		e.must(e.db.Model(&Order{}).Where("status = ?", "none").Update("status", "x"))
		e.wantEvents(0)

		// a model without redacted columns shows its arguments
		e.must(e.db.Create(&Ticket{ID: 1, Title: "a"}))
		e.events()
		e.must(e.db.Model(&Ticket{}).Where("title = ?", "a").Update("title", "b"))
		ev = e.wantEvents(1)[0]
		if w, _ := ev.Meta["where"].(string); !strings.Contains(w, "title = 'a'") && !strings.Contains(w, `title = "a"`) {
			t.Errorf("where: %v", ev.Meta)
		}
	})
}

func TestFetchOld(t *testing.T) {
	forEachDB(t, Config{FetchOld: true}, nil, allModels, func(t *testing.T, e *env) {
		e.must(e.db.Create(&[]Order{{ID: 1, Status: "new", Total: 1}, {ID: 2, Status: "new", Total: 2}, {ID: 3, Status: "done", Total: 3}}))
		e.events()

		e.must(e.db.Model(&Order{}).Where("status = ?", "new").Updates(map[string]any{"status": "late", "total": 2}))
		evs := e.wantEvents(2)
		if evs[0].Target.ID != "1" || changes(evs[0], "status", "total") != `status=["new","late"] total=[1,2]` || len(evs[0].Changes) != 2 {
			t.Errorf("row 1: %s", evs[0].Line)
		}
		// row 2's total was 2 already
		if evs[1].Target.ID != "2" || len(evs[1].Changes) != 1 || evs[1].change("status") != `["new","late"]` {
			t.Errorf("row 2: %s", evs[1].Line)
		}
		if evs[0].Meta != nil {
			t.Errorf("meta: %v", evs[0].Meta)
		}

		// a copy of a loaded model has no snapshot: FetchOld gets the row
		load := func() Order {
			var o Order
			e.must(e.db.First(&o, 3))
			return o
		}
		o := load()
		o.Customer = "cy"
		e.must(e.db.Save(&o))
		ev := e.wantEvents(1)[0]
		if ev.Target.ID != "3" || len(ev.Changes) != 1 || ev.change("customer") != `["","cy"]` {
			t.Errorf("copy: %s", ev.Line)
		}
		// and its snapshot now is the saved row
		e.must(e.db.Model(&o).Update("status", "archived"))
		ev = e.wantEvents(1)[0]
		if len(ev.Changes) != 1 || ev.change("status") != `["done","archived"]` {
			t.Errorf("after fetch: %s", ev.Line)
		}

		// a batch delete records each row with its values
		e.must(e.db.Where("status = ?", "late").Delete(&Order{}))
		evs = e.wantEvents(2)
		for i, ev := range evs {
			if ev.Action != "delete" || ev.Target.ID != fmt.Sprint(i+1) || ev.change("status") != `"late"` || ev.change("secret") != `"[REDACTED]"` {
				t.Errorf("delete %d: %s", i, ev.Line)
			}
		}
	})
}

func TestDelete(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		e.must(e.db.Create(&[]Order{{ID: 1, Status: "a"}, {ID: 2, Status: "b"}, {ID: 3, Status: "c"}, {ID: 4, Status: "d"}, {ID: 5, Status: "e"}}))
		e.events()

		// a loaded model: its values as loaded
		var o Order
		e.must(e.db.First(&o, 1))
		o.Status = "changed in memory"
		e.must(e.db.Delete(&o))
		ev := e.wantEvents(1)[0]
		if ev.Action != "delete" || ev.Target.ID != "1" || ev.change("status") != `"a"` || ev.Meta != nil {
			t.Errorf("loaded: %s", ev.Line)
		}

		// by primary key: the id, values unknown
		e.must(e.db.Delete(&Order{}, 2))
		ev = e.wantEvents(1)[0]
		if ev.Target.ID != "2" || ev.Meta["old_values"] != "unknown" {
			t.Errorf("by key: %s", ev.Line)
		}

		// a slice of loaded models
		var os []Order
		e.must(e.db.Where("id IN ?", []int{3, 4}).Order("id").Find(&os))
		e.must(e.db.Delete(&os))
		evs := e.wantEvents(2)
		if evs[0].Target.ID != "3" || evs[1].Target.ID != "4" || evs[1].change("status") != `"d"` {
			t.Errorf("slice: %s\n%s", evs[0].Line, evs[1].Line)
		}

		// GORM's own primary key conditions name the rows
		e.must(e.db.Create(&[]Order{{ID: 10}, {ID: 11}, {ID: 12}}))
		e.events()
		e.must(e.db.Delete(&Order{}, []int64{10, 11}))
		if evs := e.wantEvents(2); evs[0].Target.ID != "10" || evs[1].Target.ID != "11" {
			t.Errorf("by keys: %s\n%s", evs[0].Line, evs[1].Line)
		}
		e.must(e.db.Where(&Order{ID: 12}).Delete(&Order{}))
		if ev := e.wantEvents(1)[0]; ev.Target.ID != "12" {
			t.Errorf("by struct condition: %s", ev.Line)
		}

		// a batch: the WHERE clause, no id
		e.must(e.db.Where("status = ?", "e").Delete(&Order{}))
		ev = e.wantEvents(1)[0]
		if ev.Target.ID != "" || ev.Meta["rows_affected"] != float64(1) || ev.Meta["where"] == nil {
			t.Errorf("batch: %s", ev.Line)
		}

		// soft delete
		tk := Ticket{Title: "t"}
		e.must(e.db.Create(&tk))
		e.events()
		e.must(e.db.Delete(&tk))
		ev = e.wantEvents(1)[0]
		if ev.Action != "delete" || ev.Meta["soft_delete"] != true {
			t.Errorf("soft: %s", ev.Line)
		}
		// nothing left to delete: nothing recorded
		e.must(e.db.Delete(&Order{}, 99))
		e.wantEvents(0)
	})
}

func TestTransactions(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		errBoom := errors.New("boom")

		// db.Transaction returning an error
		err := e.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&Order{ID: 1}).Error; err != nil {
				return err
			}
			return errBoom
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("transaction: %v", err)
		}
		e.wantEvents(0)

		// tx.Rollback
		tx := e.db.Begin()
		e.must(tx.Create(&Order{ID: 2}))
		e.must(tx.Rollback())
		e.wantEvents(0)

		// events wait for the commit
		tx = e.db.Begin()
		e.must(tx.Create(&Order{ID: 3}))
		e.must(tx.Model(&Order{ID: 3}).Update("status", "x"))
		e.wantEvents(0)
		e.must(tx.Commit())
		evs := e.wantEvents(2)
		if evs[0].Action != "create" || evs[1].Action != "update" {
			t.Errorf("order: %s\n%s", evs[0].Line, evs[1].Line)
		}

		// a nested transaction rolled back to its savepoint loses its events only
		err = e.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&Order{ID: 4}).Error; err != nil {
				return err
			}
			_ = tx.Transaction(func(tx2 *gorm.DB) error {
				if err := tx2.Create(&Order{ID: 5}).Error; err != nil {
					return err
				}
				return errBoom
			})
			return tx.Transaction(func(tx3 *gorm.DB) error {
				return tx3.Create(&Order{ID: 6}).Error
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		evs = e.wantEvents(2)
		if evs[0].Target.ID != "4" || evs[1].Target.ID != "6" {
			t.Errorf("savepoints: %s\n%s", evs[0].Line, evs[1].Line)
		}
		var n int64
		e.must(e.db.Model(&Order{}).Where("id = 5").Count(&n))
		if n != 0 {
			t.Errorf("row 5 exists")
		}

		// a rolled-back update leaves the snapshot as loaded
		var o Order
		e.must(e.db.First(&o, 4))
		_ = e.db.Transaction(func(tx *gorm.DB) error {
			o.Status = "rolled back"
			if err := tx.Save(&o).Error; err != nil {
				return err
			}
			return errBoom
		})
		e.wantEvents(0)
		o.Status = "kept"
		e.must(e.db.Save(&o))
		ev := e.wantEvents(1)[0]
		if ev.change("status") != `["","kept"]` {
			t.Errorf("after rollback: %s", ev.Line)
		}
	})
}

func TestSessionModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  gorm.Config
	}{
		{"default", gorm.Config{}},
		{"skip_default_transaction", gorm.Config{SkipDefaultTransaction: true}},
		{"prepare_stmt", gorm.Config{PrepareStmt: true}},
		{"prepare_stmt_skip_tx", gorm.Config{PrepareStmt: true, SkipDefaultTransaction: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			forEachDB(t, Config{}, &cfg, allModels, func(t *testing.T, e *env) {
				e.must(e.db.Create(&Order{ID: 1, Status: "a"}))
				e.wantEvents(1)
				var o Order
				e.must(e.db.First(&o, 1))
				o.Status = "b"
				e.must(e.db.Save(&o))
				if ev := e.wantEvents(1)[0]; ev.change("status") != `["a","b"]` {
					t.Errorf("update: %s", ev.Line)
				}
				err := e.db.Transaction(func(tx *gorm.DB) error {
					if err := tx.Model(&o).Update("status", "c").Error; err != nil {
						return err
					}
					_ = tx.Transaction(func(tx2 *gorm.DB) error {
						tx2.Create(&Order{ID: 2})
						return errors.New("inner")
					})
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if ev := e.wantEvents(1)[0]; ev.change("status") != `["b","c"]` {
					t.Errorf("in transaction: %s", ev.Line)
				}
				_ = e.db.Transaction(func(tx *gorm.DB) error {
					tx.Delete(&o)
					return errors.New("no")
				})
				e.wantEvents(0)
				if sqlDB, err := e.db.DB(); err != nil || sqlDB.Ping() != nil {
					t.Errorf("db.DB through the wrapped pool: %v", err)
				}
			})
		})
	}
}

func TestContextScope(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		ctx := audit.WithScope(context.Background(), audit.Scope{
			Actor:     audit.Actor{Type: "User", ID: "42"},
			RequestID: "req-1",
			Endpoint:  "POST /orders",
		})
		e.must(e.db.WithContext(ctx).Create(&Order{ID: 1}))
		err := e.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			return tx.Model(&Order{ID: 1}).Update("status", "x").Error
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range e.wantEvents(2) {
			if ev.Actor.Type != "User" || ev.Actor.ID != "42" || ev.Context.RequestID != "req-1" || ev.Context.Endpoint != "POST /orders" {
				t.Errorf("scope lost: %s", ev.Line)
			}
		}
	})
}

func TestLargeIDs(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		const id = int64(1)<<53 + 1 // 9007199254740993: not a float64
		e.must(e.db.Create(&Order{ID: id, Total: id}))
		ev := e.wantEvents(1)[0]
		if ev.Target.ID != "9007199254740993" || ev.change("id") != "9007199254740993" || ev.change("total") != "9007199254740993" {
			t.Errorf("create: %s", ev.Line)
		}
		var o Order
		e.must(e.db.First(&o, id))
		o.Total = id + 2
		e.must(e.db.Save(&o))
		ev = e.wantEvents(1)[0]
		if ev.Target.ID != "9007199254740993" || ev.change("total") != "[9007199254740993,9007199254740995]" {
			t.Errorf("update: %s", ev.Line)
		}
	})
}

func TestConfigOptions(t *testing.T) {
	cfg := Config{
		Models:   []any{&Order{}, &Ticket{}},
		Redacted: []string{"title"},
		Except:   []string{"Customer"},
		Schema:   "app",
		Options: []ModelOptions{
			{Model: &Ticket{}, Type: "Support::Ticket"},
			{Model: &Order{}, Except: []string{"total"}, Redacted: []string{"status"}},
		},
	}
	forEachDB(t, cfg, nil, allModels, func(t *testing.T, e *env) {
		e.must(e.db.Create(&Line{OrderID: 1, SKU: "a"})) // not in Models
		e.wantEvents(0)

		e.must(e.db.Create(&Ticket{ID: 1, Title: "t"}))
		ev := e.wantEvents(1)[0]
		want := audit.Target{Type: "Support::Ticket", ID: "1", Schema: "app", Table: "tickets"}
		if ev.Target != want || ev.change("title") != `"[REDACTED]"` {
			t.Errorf("ticket: %s", ev.Line)
		}

		var o Order
		e.must(e.db.Create(&Order{ID: 1, Customer: "c", Status: "s", Total: 1}))
		e.events()
		e.must(e.db.First(&o, 1))
		o.Customer, o.Total = "d", 2
		e.must(e.db.Save(&o))
		e.wantEvents(0) // both left out
		o.Status = "t"
		e.must(e.db.Save(&o))
		ev = e.wantEvents(1)[0]
		if len(ev.Changes) != 1 || ev.change("status") != `["[REDACTED]","[REDACTED]"]` {
			t.Errorf("order: %s", ev.Line)
		}
	})

	for _, bad := range []Config{
		{Models: []any{42}},
		{Options: []ModelOptions{{}}},
		{Options: []ModelOptions{{Model: &Order{}}, {Model: Order{}}}},
	} {
		log, _ := audit.New(audit.Config{Output: &captured{}, HeartbeatInterval: -1})
		if _, err := New(log, bad); err == nil {
			t.Errorf("New(%+v) = nil error", bad)
		}
		_ = log.Close(context.Background())
	}
	if _, err := New(nil, Config{}); err == nil {
		t.Error("New(nil logger) = nil error")
	}
}

func TestSchemaQualifiedTable(t *testing.T) {
	e := newEnv(t, "sqlite", Config{}, nil)
	e.must(e.db.Exec("ATTACH DATABASE ':memory:' AS sales"))
	e.must(e.db.Exec("CREATE TABLE sales.orders (id integer primary key, status text)"))
	type SalesOrder struct {
		ID     int64
		Status string
	}
	e.must(e.db.Table("sales.orders").Create(&SalesOrder{ID: 1, Status: "a"}))
	ev := e.wantEvents(1)[0]
	want := audit.Target{Type: "SalesOrder", ID: "1", Schema: "sales", Table: "orders"}
	if ev.Target != want {
		t.Errorf("target = %+v, want %+v", ev.Target, want)
	}
}

func TestUpsertAndClauses(t *testing.T) {
	forEachDB(t, Config{}, nil, allModels, func(t *testing.T, e *env) {
		e.must(e.db.Create(&Order{ID: 100, Status: "a"}))
		e.events()
		// ON CONFLICT DO NOTHING that inserts nothing records nothing
		e.must(e.db.Clauses(clause.OnConflict{DoNothing: true}).Create(&Order{ID: 100, Status: "b"}))
		e.wantEvents(0)
		// Save of a new row (no key) creates
		o := Order{Status: "n"}
		e.must(e.db.Save(&o))
		if ev := e.wantEvents(1)[0]; ev.Action != "create" {
			t.Errorf("save new: %s", ev.Line)
		}
		// DryRun records nothing
		e.must(e.db.Session(&gorm.Session{DryRun: true}).Create(&Order{ID: 9}))
		e.wantEvents(0)
		// raw SQL is not recorded
		e.must(e.db.Exec("UPDATE orders SET status = 'raw'"))
		e.wantEvents(0)
	})
}

// Doc has columns of many kinds, to check that a load followed by a save
// of the same values records nothing, and that changes made in place
// (a byte, an appended tag) are seen.
type Doc struct {
	ID    int64
	Data  []byte
	Tags  []string       `gorm:"serializer:json"`
	Attrs map[string]any `gorm:"serializer:json"`
	At    *time.Time
	Name  sql.NullString
	Count *sql.NullInt64
	Price float64
	Kind  Kind
}

type Kind string

func TestValueKinds(t *testing.T) {
	forEachDB(t, Config{}, nil, []any{&Doc{}}, func(t *testing.T, e *env) {
		at := time.Date(2024, 8, 6, 18, 0, 59, 981000000, time.FixedZone("JST", 9*3600))
		e.must(e.db.Create(&Doc{ID: 1, Data: []byte("ab"), Tags: []string{"x"}, Attrs: map[string]any{"k": "v"}, At: &at,
			Name: sql.NullString{String: "n", Valid: true}, Price: 2, Kind: "a"}))
		ev := e.wantEvents(1)[0]
		if ev.change("data") != `"YWI="` || ev.change("tags") != `["x"]` || ev.change("attrs") != `{"k":"v"}` ||
			ev.change("name") != `"n"` || ev.change("count") != "null" || ev.change("kind") != `"a"` {
			t.Errorf("create: %s", ev.Line)
		}

		var d Doc
		e.must(e.db.First(&d, 1))
		e.must(e.db.Save(&d))
		e.wantEvents(0) // nothing changed

		d.Data[0] = 'z' // in place
		d.Tags = append(d.Tags, "y")
		d.Attrs["k"] = "w"
		e.must(e.db.Save(&d))
		ev = e.wantEvents(1)[0]
		if ev.change("data") != `["YWI=","emI="]` || ev.change("tags") != `[["x"],["x","y"]]` ||
			ev.change("attrs") != `[{"k":"v"},{"k":"w"}]` || len(ev.Changes) != 3 {
			t.Errorf("in place: %s", ev.Line)
		}

		// values of other Go types that are equal in SQL are no change
		e.must(e.db.Model(&d).Updates(map[string]any{"price": 2, "kind": "a", "name": "n"}))
		e.wantEvents(0)
		e.must(e.db.Model(&d).Updates(map[string]any{"price": 2.5, "count": 3, "at": nil}))
		ev = e.wantEvents(1)[0]
		if ev.change("price") != "[2,2.5]" || ev.change("count") != "[null,3]" || !strings.HasSuffix(ev.change("at"), ",null]") {
			t.Errorf("map update: %s", ev.Line)
		}
	})
}
