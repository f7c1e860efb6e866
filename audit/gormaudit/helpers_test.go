package gormaudit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/driver/postgres"
	"gorm.io/driver/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// captured is an audit.Output that keeps the lines written to it.
type captured struct {
	mu    sync.Mutex
	lines [][]byte
}

func (c *captured) Write(line []byte) error {
	c.mu.Lock()
	c.lines = append(c.lines, bytes.Clone(line))
	c.mu.Unlock()
	return nil
}
func (c *captured) Sync() error                 { return nil }
func (c *captured) Close(context.Context) error { return nil }

// event is the part of a kansa event the tests look at.
type event struct {
	Action string `json:"action"`
	Actor  struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"actor"`
	Target  audit.Target `json:"-"`
	RawT    rawTarget    `json:"target"`
	Changes map[string]json.RawMessage
	Context struct {
		RequestID string `json:"request_id"`
		Endpoint  string `json:"endpoint"`
	} `json:"context"`
	Meta map[string]any `json:"meta"`
	Line string         `json:"-"`
}

type rawTarget struct {
	Type   string `json:"type"`
	ID     string `json:"id"`
	Schema string `json:"schema"`
	Table  string `json:"table"`
}

// change returns the JSON of a column's change, "" when absent.
func (e event) change(col string) string {
	if v, ok := e.Changes[col]; ok {
		return string(v)
	}
	return ""
}

// env is a database with the plugin and a logger capturing its events.
type env struct {
	t      *testing.T
	db     *gorm.DB
	log    *audit.Logger
	out    *captured
	plugin *Plugin
	seen   int
	kind   string // "sqlite" or "postgres"
}

// events flushes the logger and returns the events written since the
// last call, heartbeats left out.
func (e *env) events() []event {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.log.Flush(ctx); err != nil {
		e.t.Fatalf("flush: %v", err)
	}
	e.out.mu.Lock()
	lines := e.out.lines[e.seen:]
	e.seen = len(e.out.lines)
	e.out.mu.Unlock()
	var evs []event
	for _, l := range lines {
		var ev event
		if err := json.Unmarshal(l, &ev); err != nil {
			e.t.Fatalf("decode %s: %v", l, err)
		}
		if ev.Action == audit.ActionHeartbeat {
			continue
		}
		ev.Target = audit.Target(ev.RawT)
		ev.Line = string(bytes.TrimSpace(l))
		evs = append(evs, ev)
	}
	return evs
}

// wantEvents fails unless there are n new events, and returns them.
func (e *env) wantEvents(n int) []event {
	e.t.Helper()
	evs := e.events()
	if len(evs) != n {
		var lines []string
		for _, ev := range evs {
			lines = append(lines, ev.Line)
		}
		e.t.Fatalf("got %d events, want %d:\n%s", len(evs), n, join(lines))
	}
	return evs
}

func join(lines []string) string {
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

// must fails the test on a GORM error.
func (e *env) must(tx *gorm.DB) *gorm.DB {
	e.t.Helper()
	if tx.Error != nil {
		e.t.Fatalf("gorm: %v", tx.Error)
	}
	return tx
}

// backends are the databases every behaviour is tested against.
var backends = []string{"sqlite", "postgres"}

// forEachDB runs fn against SQLite and PostgreSQL, each with a fresh
// database (a temp file; a schema of its own) holding models.
func forEachDB(t *testing.T, cfg Config, gcfg *gorm.Config, models []any, fn func(t *testing.T, e *env)) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, cfg, gcfg)
			if err := e.db.AutoMigrate(models...); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			e.events() // none, but sets the mark
			fn(t, e)
		})
	}
}

func newEnv(t *testing.T, kind string, cfg Config, gcfg *gorm.Config) *env {
	t.Helper()
	out := &captured{}
	log, err := audit.New(audit.Config{Output: out, Source: "app:test", Host: "test", HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close(context.Background()) })
	var own gorm.Config // gorm.Open keeps the plugins in the Config: one per DB
	if gcfg != nil {
		own = *gcfg
	}
	gcfg = &own
	gcfg.Logger = logger.Discard
	var db *gorm.DB
	switch kind {
	case "sqlite":
		db, err = gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "test.db")+"?_busy_timeout=5000"), gcfg)
	case "postgres":
		db, err = gorm.Open(postgres.Open(pgDSN(t)), gcfg)
	}
	if err != nil {
		t.Fatalf("open %s: %v", kind, err)
	}
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	p, err := New(log, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Use(p); err != nil {
		t.Fatal(err)
	}
	return &env{t: t, db: db, log: log, out: out, plugin: p, kind: kind}
}

// pgDSN returns a DSN for a schema of the test's own on the cluster of
// KANSA_TEST_PG, dropped when the test ends.
func pgDSN(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("PostgreSQL tests skipped in -short mode")
	}
	dsn := os.Getenv("KANSA_TEST_PG")
	if dsn == "" {
		t.Fatal(`KANSA_TEST_PG is not set: run bash scripts/test.sh, or start a cluster with eval "$(bash scripts/pg.sh start)"`)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gormaudit_" + hex.EncodeToString(b[:])
	admin, err := gorm.Open(postgres.Open(dsn), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("connect to KANSA_TEST_PG: %v", err)
	}
	if err := admin.Exec("CREATE SCHEMA " + name).Error; err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		admin.Exec("DROP SCHEMA " + name + " CASCADE")
		if sqlDB, err := admin.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	u, err := url.Parse(dsn)
	if err != nil || u.Scheme == "" {
		return dsn + " search_path=" + name // key=value form
	}
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}
