package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/audit"
)

// The incident: an application writes an audits row per change in its own
// database; a migration takes a lock on audits and holds it; every change
// of the application waits for it. With the SDK, the application's changes
// do not touch audits, so a migration of audits does not stall them.
//
// The test measures, per mode and migration: the write rate from one
// client before the migration, the writes completed while the migration
// held its lock, and the longest write. The lock is held for hold, the
// way a migration holds it while it rewrites a table or builds an index.

const hold = 2 * time.Second

type migration struct {
	name string
	sql  string
}

var migrations = []migration{
	{"ALTER TABLE", "ALTER TABLE audits ADD COLUMN comment text"},
	{"CREATE INDEX", "CREATE INDEX audits_on_request ON audits (request_uuid)"},
}

// writer updates products through the shop's HTTP API from one client and
// keeps when each request ended and how long it took.
type writer struct {
	mu    sync.Mutex
	ends  []time.Time
	took  []time.Duration
	stop  chan struct{}
	done  chan struct{}
	count chan int // the number of completed writes, on request
}

func startWriter(t *testing.T, u *client, products int) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for i := 0; ; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			t0 := time.Now()
			code, body := u.do("PATCH", "/products/"+strconv.Itoa(1+i%products), fmt.Sprintf(`{"price_cents":%d}`, 1000+i))
			t1 := time.Now()
			if code != 200 {
				t.Errorf("PATCH: %d %s", code, body)
				return
			}
			w.mu.Lock()
			w.ends = append(w.ends, t1)
			w.took = append(w.took, t1.Sub(t0))
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) completed() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ends)
}

// waitCompleted waits until n writes have completed.
func (w *writer) waitCompleted(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for w.completed() < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d writes completed, want %d", w.completed(), n)
		}
		time.Sleep(time.Millisecond) // polling the writer's counter
	}
}

// between counts the writes that ended in (from, to].
func (w *writer) between(from, to time.Time) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, e := range w.ends {
		if e.After(from) && !e.After(to) {
			n++
		}
	}
	return n
}

func (w *writer) longest() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := append([]time.Duration(nil), w.took...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)-1]
}

// lockWaiters counts backends waiting for a lock on a relation.
func lockWaiters(db *sql.DB) int {
	var n int
	db.QueryRow(`SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'relation'`).Scan(&n)
	return n
}

func TestMigrationLockStallsAuditsTableNotSDK(t *testing.T) {
	for _, mode := range []string{"audits table", "SDK"} {
		for _, mig := range migrations {
			t.Run(mode+"/"+mig.name, func(t *testing.T) {
				dsn := database(t)
				cfg := Config{DatabaseURL: dsn, Logger: quiet()}
				var app *App
				var err error
				if mode == "SDK" {
					out, oerr := audit.OpenFile(filepath.Join(t.TempDir(), "audit.log"))
					if oerr != nil {
						t.Fatal(oerr)
					}
					cfg.Output = out
					app, err = Open(cfg)
				} else {
					cfg.Output = audit.NewWriterOutput(discardWriter{})
					app, err = open(cfg, auditsTable)
				}
				if err != nil {
					t.Fatal(err)
				}
				defer app.Close(context.Background())
				// The audits table exists in both modes: the migration is of it.
				if err := app.db.Exec(`CREATE TABLE IF NOT EXISTS audits (id bigserial PRIMARY KEY, request_uuid text)`).Error; err != nil {
					t.Fatal(err)
				}
				const products = 20
				for i := 0; i < products; i++ {
					if err := app.db.Create(&Product{Name: "p" + strconv.Itoa(i), PriceCents: 100}).Error; err != nil {
						t.Fatal(err)
					}
				}
				srv := httptest.NewServer(app.Handler())
				defer srv.Close()
				u := newClient(t, srv.URL)
				if code, _ := u.do("POST", "/login", `{"email":"ayu@example.com","password":"correct horse"}`); code != 200 {
					t.Fatal("login failed")
				}

				w := startWriter(t, u, products)
				defer func() { close(w.stop); <-w.done }()
				w.waitCompleted(t, 200)
				warm := time.Now()
				before := w.completed()
				w.waitCompleted(t, before+500)
				rate := float64(500) / time.Since(warm).Seconds()

				sqlDB, _ := app.db.DB()
				mconn, err := sqlDB.Conn(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer mconn.Close()
				tx, err := mconn.BeginTx(context.Background(), nil)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := tx.Exec(mig.sql); err != nil {
					t.Fatal(err)
				}
				locked := time.Now()
				blocked := false
				if mode == "audits table" {
					// The writer's next audit insert must wait on the lock.
					deadline := time.Now().Add(hold)
					for !blocked && time.Now().Before(deadline) {
						blocked = lockWaiters(sqlDB) > 0
					}
				}
				time.Sleep(time.Until(locked.Add(hold))) // the migration's own duration
				released := time.Now()
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				during := w.between(locked, released)
				after := w.completed()
				w.waitCompleted(t, after+100)
				longest := w.longest()
				t.Logf("%s, %s held %v: %.0f writes/s before; %d writes completed while locked; longest write %v",
					mode, mig.name, hold.Round(time.Millisecond), rate, during, longest.Round(time.Millisecond))

				switch mode {
				case "audits table":
					if !blocked {
						t.Error("no backend waited on the audits lock")
					}
					if during > 1 {
						t.Errorf("%d writes completed while audits was locked; the baseline should stall", during)
					}
					if longest < hold*9/10 {
						t.Errorf("longest write %v; the baseline should wait out the %v lock", longest, hold)
					}
				case "SDK":
					if want := int(rate * hold.Seconds() / 4); during < want {
						t.Errorf("%d writes while audits was locked, want at least %d (a quarter of the unlocked rate)", during, want)
					}
					if longest > hold/4 {
						t.Errorf("longest write %v while audits was locked", longest)
					}
				}
			})
		}
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
