package gormaudit

import (
	"context"
	"database/sql"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/gorm"
)

// pool wraps a gorm.DB's connection pool so that the transactions begun
// on it are ours: their Commit emits the events recorded in them.
type pool struct {
	gorm.ConnPool
	p *Plugin
}

var (
	_ gorm.ConnPool         = (*pool)(nil)
	_ gorm.ConnPoolBeginner = (*pool)(nil)
	_ gorm.GetDBConnector   = (*pool)(nil)
)

// BeginTx begins a transaction on the wrapped pool.
func (c *pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	var (
		inner gorm.ConnPool
		err   error
	)
	switch b := c.ConnPool.(type) {
	case gorm.TxBeginner:
		var t *sql.Tx
		t, err = b.BeginTx(ctx, opts)
		if err == nil {
			inner = t
		}
	case gorm.ConnPoolBeginner:
		inner, err = b.BeginTx(ctx, opts)
	default:
		return nil, gorm.ErrInvalidTransaction
	}
	if err != nil {
		return nil, err
	}
	committer, ok := inner.(gorm.TxCommitter)
	if !ok {
		return nil, gorm.ErrInvalidTransaction
	}
	t := &tx{ConnPool: inner, committer: committer, pool: c}
	t.pending, t.undo = t.pendBuf[:0], t.undoBuf[:0]
	return t, nil
}

// GetDBConn returns the *sql.DB under the pool, for gorm.DB.DB.
func (c *pool) GetDBConn() (*sql.DB, error) {
	if db, ok := c.ConnPool.(*sql.DB); ok {
		return db, nil
	}
	if g, ok := c.ConnPool.(gorm.GetDBConnector); ok {
		return g.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// Ping pings the wrapped pool, for gorm's start-up ping.
func (c *pool) Ping() error {
	if p, ok := c.ConnPool.(interface{ Ping() error }); ok {
		return p.Ping()
	}
	return nil
}

// tx is a transaction begun through a pool. It keeps the events of the
// statements run in it until Commit succeeds, and what to undo in the
// snapshots if it rolls back. Savepoints (GORM's nested transactions) are
// seen in the SQL they execute, so that ROLLBACK TO SAVEPOINT drops the
// events recorded after the savepoint.
type tx struct {
	gorm.ConnPool
	committer gorm.TxCommitter
	pool      *pool

	mu      sync.Mutex
	pending []pending
	undo    []undo
	marks   []mark

	// room for the first statement's: GORM's own transaction has one
	pendBuf [1]pending
	undoBuf [1]undo
}

var (
	_ gorm.Tx             = (*tx)(nil)
	_ gorm.GetDBConnector = (*tx)(nil)
)

// pending is an event waiting for its transaction to commit.
type pending struct {
	ctx context.Context
	ev  audit.Event
}

// undo puts a snapshot back as it was before a statement of the
// transaction replaced it.
type undo struct {
	k    key
	p    unsafe.Pointer
	prev reflect.Value
}

// mark is a savepoint: how many events and undos came before it.
type mark struct {
	name           string
	events, undone int
}

// add keeps a statement's events and undos until the end of t.
func (t *tx) add(ctx context.Context, evs []audit.Event, undos []undo) {
	t.mu.Lock()
	for i := range evs {
		t.pending = append(t.pending, pending{ctx: ctx, ev: evs[i]})
	}
	t.undo = append(t.undo, undos...)
	t.mu.Unlock()
}

// take empties t and returns what it held.
func (t *tx) take() ([]pending, []undo) {
	t.mu.Lock()
	evs, undos := t.pending, t.undo
	t.pending, t.undo, t.marks = nil, nil, nil
	t.mu.Unlock()
	return evs, undos
}

// Commit commits the transaction and then records its events, in the
// order their statements ran.
func (t *tx) Commit() error {
	err := t.committer.Commit()
	evs, undos := t.take()
	if err != nil {
		t.pool.p.undo(undos)
		return err
	}
	for i := range evs {
		t.pool.p.log.Record(evs[i].ctx, evs[i].ev)
	}
	return nil
}

// Rollback rolls the transaction back and drops its events.
func (t *tx) Rollback() error {
	err := t.committer.Rollback()
	_, undos := t.take()
	t.pool.p.undo(undos)
	return err
}

// StmtContext returns stmt for use in the transaction (prepared
// statement mode).
func (t *tx) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	if s, ok := t.ConnPool.(interface {
		StmtContext(context.Context, *sql.Stmt) *sql.Stmt
	}); ok {
		return s.StmtContext(ctx, stmt)
	}
	return stmt
}

// GetDBConn returns the *sql.DB the transaction runs on.
func (t *tx) GetDBConn() (*sql.DB, error) { return t.pool.GetDBConn() }

// ExecContext executes query in the transaction, following savepoints.
func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	res, err := t.ConnPool.ExecContext(ctx, query, args...)
	if err == nil && len(query) > 9 {
		switch query[0] | 0x20 {
		case 's', 'r':
			t.savepoint(query)
		}
	}
	return res, err
}

// savepoint follows SAVEPOINT, ROLLBACK TO [SAVEPOINT] and RELEASE
// [SAVEPOINT], the statements of GORM's nested transactions.
func (t *tx) savepoint(query string) {
	f := strings.Fields(query)
	upper := func(i int) string {
		if i < len(f) {
			return strings.ToUpper(f[i])
		}
		return ""
	}
	var op, name string
	switch {
	case upper(0) == "SAVEPOINT" && len(f) == 2:
		op, name = "save", f[1]
	case upper(0) == "ROLLBACK" && upper(1) == "TO" && upper(2) == "SAVEPOINT" && len(f) == 4:
		op, name = "rollback", f[3]
	case upper(0) == "ROLLBACK" && upper(1) == "TO" && len(f) == 3:
		op, name = "rollback", f[2]
	case upper(0) == "RELEASE" && upper(1) == "SAVEPOINT" && len(f) == 3:
		op, name = "release", f[2]
	case upper(0) == "RELEASE" && len(f) == 2:
		op, name = "release", f[1]
	default:
		return
	}
	name = strings.Trim(name, "`\"; ")
	t.mu.Lock()
	if op == "save" {
		t.marks = append(t.marks, mark{name: name, events: len(t.pending), undone: len(t.undo)})
		t.mu.Unlock()
		return
	}
	i := len(t.marks) - 1
	for i >= 0 && t.marks[i].name != name {
		i--
	}
	if i < 0 {
		t.mu.Unlock()
		return
	}
	var undos []undo
	mk := t.marks[i]
	if op == "rollback" {
		clear(t.pending[mk.events:])
		t.pending = t.pending[:mk.events]
		undos = append(undos, t.undo[mk.undone:]...)
		t.undo = t.undo[:mk.undone]
		t.marks = t.marks[:i+1] // the savepoint itself stays
	} else {
		t.marks = t.marks[:i]
	}
	t.mu.Unlock()
	t.pool.p.undo(undos)
}

// txOf returns the transaction of ours that conn is, or nil; inTx reports
// whether conn is a transaction at all.
func txOf(conn gorm.ConnPool) (t *tx, inTx bool) {
	switch c := conn.(type) {
	case *tx:
		return c, true
	case *gorm.PreparedStmtTX:
		t, _ = c.Tx.(*tx)
		return t, true
	case gorm.TxCommitter:
		return nil, true
	}
	return nil, false
}

// wrapPool puts a pool around db's connection pool. In prepared statement
// mode it wraps the pool under GORM's *gorm.PreparedStmtDB, which GORM and
// its drivers look for by type.
func (p *Plugin) wrapPool(db *gorm.DB) {
	wrap := func(cp gorm.ConnPool) gorm.ConnPool {
		switch c := cp.(type) {
		case *pool:
			return c
		case *gorm.PreparedStmtDB:
			if _, ok := c.ConnPool.(*pool); !ok {
				c.ConnPool = &pool{ConnPool: c.ConnPool, p: p}
			}
			return c
		case gorm.TxCommitter:
			return cp // a gorm.DB opened on a transaction: left alone
		}
		return &pool{ConnPool: cp, p: p}
	}
	db.Config.ConnPool = wrap(db.Config.ConnPool)
	if db.Statement != nil && db.Statement.ConnPool != nil {
		db.Statement.ConnPool = wrap(db.Statement.ConnPool)
	}
}
