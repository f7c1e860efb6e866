package gormaudit

import (
	"context"
	"strings"
	"testing"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/kansa-audit/kansa/audit"
)

// TestEmitContext: inside a GORM transaction on a real PostgreSQL, the
// request's scope reaches the WAL stream as a transactional logical
// decoding message with the prefix "kansa"; a rolled-back transaction
// sends nothing. A test_decoding slot reads what logical decoding sees.
func TestEmitContext(t *testing.T) {
	db, err := gorm.Open(postgres.Open(pgDSN(t)), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	slot := "gormaudit_emit"
	db.Exec("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = ?", slot)
	if err := db.Exec("SELECT pg_create_logical_replication_slot(?, 'test_decoding')", slot).Error; err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Exec("SELECT pg_drop_replication_slot(?)", slot) })
	ctx := audit.WithScope(context.Background(), audit.Scope{Actor: audit.Actor{Type: "User", ID: "42"}, RequestID: "req-7", Endpoint: "PATCH /orders/{id}", IP: "192.0.2.7"})
	if err := db.WithContext(ctx).Transaction(func(tx *gorm.DB) error { return EmitContext(tx) }); err != nil {
		t.Fatal(err)
	}
	rolledBack := audit.WithScope(context.Background(), audit.Scope{RequestID: "req-rolled-back"})
	db.WithContext(rolledBack).Transaction(func(tx *gorm.DB) error {
		if err := EmitContext(tx); err != nil {
			return err
		}
		return gorm.ErrInvalidTransaction // roll back
	})
	var changes []string
	if err := db.Raw("SELECT data FROM pg_logical_slot_get_changes(?, NULL, NULL)", slot).Scan(&changes).Error; err != nil {
		t.Fatal(err)
	}
	all := strings.Join(changes, "\n")
	if !strings.Contains(all, `message: transactional: 1 prefix: kansa`) ||
		!strings.Contains(all, `{"actor":{"type":"User","id":"42"},"request_id":"req-7","endpoint":"PATCH /orders/{id}","ip":"192.0.2.7"}`) {
		t.Fatalf("decoded:\n%s", all)
	}
	if strings.Contains(all, "req-rolled-back") {
		t.Fatalf("a rolled-back transaction's context was decoded:\n%s", all)
	}
}
