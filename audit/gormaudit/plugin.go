package gormaudit

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"
	"sync"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/gorm"
)

// Config of a Plugin. The zero Config records every model, without
// fetching old values.
type Config struct {
	// Models restricts recording to these models, given as pointers to
	// their zero values: []any{&Order{}, &User{}}. Empty: every model.
	Models []any
	// Options are per-model options (type name, except, redacted). A model
	// named here is recorded only if Models is empty or lists it too.
	Options []ModelOptions
	// Except lists columns left out of the events of every model, by
	// database column or Go field name.
	Except []string
	// Redacted lists columns of every model whose changes are recorded with
	// audit.Redacted in place of their values ("password_digest").
	Redacted []string
	// FetchOld makes updates and deletes that GORM runs without a loaded
	// model (db.Model(&Order{}).Where(…).Updates(…), db.Delete(&Order{}, …),
	// the update of a copy of a loaded model) first select the rows they
	// touch, in the same transaction and FOR UPDATE where the database has
	// it, to record their old values and one event per row. It costs one
	// SELECT per such statement; updates of loaded models never need it.
	FetchOld bool
	// Schema is written as target.schema for tables whose name is not
	// schema-qualified ("sales.orders" gives schema "sales" by itself).
	// Default: none written.
	Schema string
}

// Plugin is the GORM plugin that records create, update and delete
// events to an audit.Logger. Register it with db.Use right after
// gorm.Open; one Plugin may serve several *gorm.DB. Its methods are safe
// for concurrent use.
type Plugin struct {
	log *audit.Logger
	cfg Config

	all  bool
	only map[reflect.Type]bool
	opts map[reflect.Type]ModelOptions

	models sync.Map // *schema.Schema → *model
	snaps  snapshots
}

var _ gorm.Plugin = (*Plugin)(nil)

// New returns a Plugin recording to logger.
func New(logger *audit.Logger, cfg Config) (*Plugin, error) {
	if logger == nil {
		return nil, errors.New("gormaudit: a *audit.Logger is required (audit.New)")
	}
	p := &Plugin{
		log:  logger,
		cfg:  cfg,
		all:  len(cfg.Models) == 0,
		only: make(map[reflect.Type]bool, len(cfg.Models)),
		opts: make(map[reflect.Type]ModelOptions, len(cfg.Options)),
	}
	for i, m := range cfg.Models {
		t, err := structType(m)
		if err != nil {
			return nil, fmt.Errorf("gormaudit: Config.Models[%d]: %w", i, err)
		}
		p.only[t] = true
	}
	for i, o := range cfg.Options {
		t, err := structType(o.Model)
		if err != nil {
			return nil, fmt.Errorf("gormaudit: Config.Options[%d].Model: %w", i, err)
		}
		if _, dup := p.opts[t]; dup {
			return nil, fmt.Errorf("gormaudit: Config.Options[%d]: %s has options twice", i, t)
		}
		p.opts[t] = o
	}
	return p, nil
}

func structType(v any) (reflect.Type, error) {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("want a model such as &Order{}, got %T", v)
	}
	return t, nil
}

// Name returns the plugin's name, "gormaudit".
func (p *Plugin) Name() string { return "gormaudit" }

// Initialize registers the plugin's callbacks on db and wraps its
// connection pool so that events wait for their transaction's commit.
// gorm.DB.Use calls it; sessions made from db before then are not seen.
func (p *Plugin) Initialize(db *gorm.DB) error {
	const commit = "gorm:commit_or_rollback_transaction"
	cb := db.Callback()
	steps := []struct {
		err error
		at  string
	}{
		{cb.Query().After("gorm:query").Before("gorm:preload").Register("gormaudit:snapshot", p.afterQuery), "query"},
		{cb.Create().After("gorm:after_create").Before(commit).Register("gormaudit:after_create", p.afterCreate), "create"},
		{cb.Update().After("gorm:save_before_associations").Before("gorm:update").Register("gormaudit:before_update", p.beforeUpdate), "update"},
		{cb.Update().After("gorm:after_update").Before(commit).Register("gormaudit:after_update", p.afterUpdate), "update"},
		{cb.Delete().After("gorm:delete_before_associations").Before("gorm:delete").Register("gormaudit:before_delete", p.beforeDelete), "delete"},
		{cb.Delete().After("gorm:after_delete").Before(commit).Register("gormaudit:after_delete", p.afterDelete), "delete"},
	}
	for _, s := range steps {
		if s.err != nil {
			return fmt.Errorf("gormaudit: register %s callback: %w", s.at, s.err)
		}
	}
	p.wrapPool(db)
	return nil
}

// emit records the events of a statement of db once its transaction
// commits, or at once when it runs outside one. undos restore the
// snapshots the statement replaced, should its transaction roll back.
func (p *Plugin) emit(db *gorm.DB, evs []audit.Event, undos []undo) {
	ctx := db.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	if t, _ := txOf(db.Statement.ConnPool); t != nil {
		if s := audit.ScopeFrom(ctx); s.Endpoint == "" && s.Caller == "" {
			// Recorded at commit, the event would name the code that
			// commits; name the code that ran the statement, as Record
			// does for an event recorded at once.
			if caller := callerOutside(); caller != "" {
				ctx = audit.WithCaller(ctx, caller)
			}
		}
		t.add(ctx, evs, undos)
		return
	}
	// Outside any transaction the statement is committed already. In a
	// transaction that is not ours (begun on a *sql.Conn from
	// db.Connection, say) there is no commit to wait for: record now.
	for i := range evs {
		p.log.Record(ctx, evs[i])
	}
}

// undo puts back the snapshots a rolled-back transaction replaced, last
// first.
func (p *Plugin) undo(undos []undo) {
	for i := len(undos) - 1; i >= 0; i-- {
		u := &undos[i]
		p.snaps.restore(u.k, u.p, u.prev)
	}
}

// callerOutside names the first function on the stack outside this
// package, GORM, database/sql and the runtime: the application's.
func callerOutside() string {
	var pcs [24]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		fr, more := frames.Next()
		if fr.Function != "" && !internalFrame(fr.Function) {
			return fr.Function
		}
		if !more {
			return ""
		}
	}
}

func internalFrame(fn string) bool {
	for _, p := range []string{"github.com/kansa-audit/kansa/audit/gormaudit.", "github.com/kansa-audit/kansa/audit.", "gorm.io/", "database/sql.", "runtime."} {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}
