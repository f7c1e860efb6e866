package gormaudit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"

	"github.com/kansa-audit/kansa/audit"
	"github.com/kansa-audit/kansa/audit/gormaudit"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// Account is the model of the examples.
type Account struct {
	ID       int64
	Email    string
	Plan     string
	Password string `audit:"redacted"` // changes recorded, values not
	Visits   int    `audit:"-"`        // not recorded at all
}

// printer is an audit.Output that prints the parts of each event that do
// not change from run to run.
type printer struct{}

func (printer) Write(line []byte) error {
	var ev struct {
		Action string
		Target struct {
			Type, ID string
		}
		Changes json.RawMessage
		Meta    json.RawMessage
		Actor   *struct{ Type, ID string }
	}
	if err := json.Unmarshal(line, &ev); err != nil {
		return err
	}
	if ev.Action == audit.ActionHeartbeat {
		return nil
	}
	fmt.Printf("%s %s:%s", ev.Action, ev.Target.Type, ev.Target.ID)
	if ev.Actor != nil {
		fmt.Printf(" by %s:%s", ev.Actor.Type, ev.Actor.ID)
	}
	if len(ev.Changes) > 0 {
		fmt.Printf(" %s", ev.Changes)
	}
	if len(ev.Meta) > 0 {
		fmt.Printf(" meta=%s", ev.Meta)
	}
	fmt.Println()
	return nil
}
func (printer) Sync() error                 { return nil }
func (printer) Close(context.Context) error { return nil }

// open returns an in-memory SQLite database with the plugin made by cfg,
// and the logger it records to.
func open(cfg gormaudit.Config) (*gorm.DB, *audit.Logger) {
	logger_, err := audit.New(audit.Config{Output: printer{}, HeartbeatInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	db, err := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1) // one in-memory database
	plugin, err := gormaudit.New(logger_, cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Use(plugin); err != nil {
		log.Fatal(err)
	}
	if err := db.AutoMigrate(&Account{}); err != nil {
		log.Fatal(err)
	}
	return db, logger_
}

func ExampleNew() {
	logger_, err := audit.New(audit.Config{Output: printer{}, HeartbeatInterval: -1})
	if err != nil {
		log.Fatal(err)
	}
	defer logger_.Close(context.Background())

	db, err := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		log.Fatal(err)
	}
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1)
	plugin, err := gormaudit.New(logger_, gormaudit.Config{})
	if err != nil {
		log.Fatal(err)
	}
	if err := db.Use(plugin); err != nil {
		log.Fatal(err)
	}
	_ = db.AutoMigrate(&Account{})

	// The request's scope travels in its context (audit.Middleware puts it there).
	ctx := audit.WithScope(context.Background(), audit.Scope{Actor: audit.Actor{Type: "Admin", ID: "7"}})
	tx := db.WithContext(ctx)

	tx.Create(&Account{ID: 1, Email: "ann@example.com", Plan: "free", Password: "x"})

	var a Account
	tx.First(&a, 1) // snapshots the row as loaded
	a.Plan, a.Password, a.Visits = "pro", "y", 3
	tx.Save(&a) // writes every column; records the changed ones

	tx.Delete(&a)
	_ = logger_.Flush(context.Background())
	// Output:
	// create Account:1 by Admin:7 {"id":1,"email":"ann@example.com","plan":"free","password":"[REDACTED]"}
	// update Account:1 by Admin:7 {"plan":["free","pro"],"password":["[REDACTED]","[REDACTED]"]}
	// delete Account:1 by Admin:7 {"id":1,"email":"ann@example.com","plan":"pro","password":"[REDACTED]"}
}

// Events are recorded when their transaction commits: a rolled-back
// transaction, or a nested one rolled back to its savepoint, leaves none.
func ExamplePlugin_Initialize() {
	db, logger_ := open(gormaudit.Config{})
	defer logger_.Close(context.Background())

	_ = db.Transaction(func(tx *gorm.DB) error {
		tx.Create(&Account{ID: 1, Email: "kept@example.com"})
		_ = tx.Transaction(func(tx *gorm.DB) error {
			tx.Create(&Account{ID: 2, Email: "dropped@example.com"})
			return errors.New("rolled back to the savepoint")
		})
		return nil
	})
	_ = db.Transaction(func(tx *gorm.DB) error {
		tx.Create(&Account{ID: 3, Email: "never@example.com"})
		return errors.New("rolled back")
	})
	_ = logger_.Flush(context.Background())
	// Output:
	// create Account:1 {"id":1,"email":"kept@example.com","plan":"","password":"[REDACTED]"}
}

func ExamplePlugin_Name() {
	db, logger_ := open(gormaudit.Config{})
	defer logger_.Close(context.Background())
	_, registered := db.Config.Plugins["gormaudit"]
	fmt.Println(registered)
	// Output:
	// true
}

// Without FetchOld, an update GORM runs without a loaded model records
// the new values and says the old ones are unknown; a batch names its
// WHERE clause instead of ids.
func ExampleConfig() {
	db, logger_ := open(gormaudit.Config{})
	defer logger_.Close(context.Background())
	db.Create(&[]Account{{ID: 1, Plan: "free"}, {ID: 2, Plan: "free"}})
	_ = logger_.Flush(context.Background())
	fmt.Println("--")

	db.Model(&Account{ID: 1}).Update("plan", "pro")
	db.Model(&Account{}).Where("plan = ?", "free").Update("plan", "trial")
	_ = logger_.Flush(context.Background())
	// Output:
	// create Account:1 {"id":1,"email":"","plan":"free","password":"[REDACTED]"}
	// create Account:2 {"id":2,"email":"","plan":"free","password":"[REDACTED]"}
	// --
	// update Account:1 {"plan":"pro"} meta={"old_values":"unknown"}
	// update Account: {"plan":"trial"} meta={"old_values":"unknown","rows_affected":1,"where":"plan = ?"}
}

// With FetchOld, the same statements select the rows they touch first:
// one event per row, with old values.
func ExampleConfig_fetchOld() {
	db, logger_ := open(gormaudit.Config{FetchOld: true})
	defer logger_.Close(context.Background())
	db.Create(&[]Account{{ID: 1, Plan: "free"}, {ID: 2, Plan: "free"}})
	_ = logger_.Flush(context.Background())
	fmt.Println("--")

	db.Model(&Account{}).Where("plan = ?", "free").Update("plan", "trial")
	db.Delete(&Account{}, 2)
	_ = logger_.Flush(context.Background())
	// Output:
	// create Account:1 {"id":1,"email":"","plan":"free","password":"[REDACTED]"}
	// create Account:2 {"id":2,"email":"","plan":"free","password":"[REDACTED]"}
	// --
	// update Account:1 {"plan":["free","trial"]}
	// update Account:2 {"plan":["free","trial"]}
	// delete Account:2 {"id":2,"email":"","plan":"trial","password":"[REDACTED]"}
}

// Options name a model's target type and the columns to leave out or
// redact, alongside the `audit` struct tags.
func ExampleModelOptions() {
	db, logger_ := open(gormaudit.Config{
		Models: []any{&Account{}},
		Options: []gormaudit.ModelOptions{{
			Model:    &Account{},
			Type:     "Billing::Account",
			Except:   []string{"email"},
			Redacted: []string{"Plan"},
		}},
	})
	defer logger_.Close(context.Background())
	db.Create(&Account{ID: 5, Email: "e@example.com", Plan: "free"})
	_ = logger_.Flush(context.Background())
	// Output:
	// create Billing::Account:5 {"id":5,"plan":"[REDACTED]","password":"[REDACTED]"}
}

// In a job, with no request scope, each event names the function that ran
// the statement, whether or not it was recorded at commit.
func Example_caller() {
	logger_, _ := audit.New(audit.Config{Output: callerPrinter{}, HeartbeatInterval: -1})
	defer logger_.Close(context.Background())
	db, _ := gorm.Open(sqlite.Open("file::memory:"), &gorm.Config{Logger: logger.Discard})
	sqlDB, _ := db.DB()
	sqlDB.SetMaxOpenConns(1)
	plugin, _ := gormaudit.New(logger_, gormaudit.Config{})
	_ = db.Use(plugin)
	_ = db.AutoMigrate(&Account{})

	renewAccounts(db)
	_ = logger_.Flush(context.Background())
	// Output:
	// create github.com/kansa-audit/kansa/audit/gormaudit_test.renewAccounts
	// update github.com/kansa-audit/kansa/audit/gormaudit_test.renewAccounts.func1
}

func renewAccounts(db *gorm.DB) {
	db.Create(&Account{ID: 1, Plan: "free"})
	_ = db.Transaction(func(tx *gorm.DB) error {
		return tx.Model(&Account{ID: 1}).Update("plan", "pro").Error
	})
}

type callerPrinter struct{ printer }

func (callerPrinter) Write(line []byte) error {
	var ev struct {
		Action  string
		Context struct{ Caller string }
	}
	if err := json.Unmarshal(line, &ev); err != nil || ev.Action == audit.ActionHeartbeat {
		return err
	}
	fmt.Println(ev.Action, ev.Context.Caller)
	return nil
}
