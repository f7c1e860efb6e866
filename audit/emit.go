package audit

import (
	"context"
	"database/sql"
	"encoding/json"
)

// Execer is what EmitContext needs of a transaction: *sql.Tx, *sql.Conn,
// or GORM's db.Statement.ConnPool inside a transaction.
type Execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// EmitContext writes the request's scope (actor, request id, endpoint,
// client address…) from ctx into the current PostgreSQL transaction's WAL
// stream, as a logical decoding message with the prefix "kansa". kansa's
// change capture (inputs.postgres) joins it to every row change of the
// same transaction, so a change made by raw SQL, a bulk update or another
// program's code still says who and from where. Call it inside the
// transaction, before or after the changes; a rolled-back transaction
// sends nothing. It costs one statement and writes no table.
func EmitContext(ctx context.Context, tx Execer) error {
	s := ScopeFrom(ctx)
	type actor struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name,omitempty"`
	}
	msg := struct {
		Actor     *actor `json:"actor,omitempty"`
		RequestID string `json:"request_id,omitempty"`
		Endpoint  string `json:"endpoint,omitempty"`
		IP        string `json:"ip,omitempty"`
		UserAgent string `json:"user_agent,omitempty"`
		Host      string `json:"host,omitempty"`
		Caller    string `json:"caller,omitempty"`
		TraceID   string `json:"trace_id,omitempty"`
		Tenant    string `json:"tenant,omitempty"`
	}{RequestID: s.RequestID, Endpoint: s.Endpoint, IP: s.IP, UserAgent: s.UserAgent, Host: s.Host, Caller: s.Caller, TraceID: s.TraceID, Tenant: s.Tenant}
	if !s.Actor.IsZero() {
		msg.Actor = &actor{s.Actor.Type, s.Actor.ID, s.Actor.Name}
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "SELECT pg_logical_emit_message(true, 'kansa', $1::text)", string(body))
	return err
}
