package gormaudit

import (
	"context"
	"database/sql"
	"errors"

	"gorm.io/gorm"

	"github.com/kansa-audit/kansa/audit"
)

// EmitContext sends the scope in tx's context (the request's actor,
// request id, endpoint, client address) into the transaction's WAL stream
// for kansa's PostgreSQL change capture, which joins it to the
// transaction's row changes (audit.EmitContext). Call it inside
// db.Transaction, with the transaction's *gorm.DB:
//
//	db.WithContext(r.Context()).Transaction(func(tx *gorm.DB) error {
//		if err := gormaudit.EmitContext(tx); err != nil {
//			return err
//		}
//		return tx.Model(&order).Update("status", "shipped").Error
//	})
func EmitContext(tx *gorm.DB) error {
	ex, ok := tx.Statement.ConnPool.(interface {
		ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	})
	if !ok {
		return errors.New("gormaudit.EmitContext: the connection pool cannot execute statements")
	}
	ctx := tx.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	return audit.EmitContext(ctx, ex)
}
