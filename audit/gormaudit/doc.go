// Package gormaudit records the creates, updates and deletes an
// application makes through GORM v2 as kansa audit events.
//
//	logger, _ := audit.New(audit.Config{Output: audit.Stdout()})
//	plugin, _ := gormaudit.New(logger, gormaudit.Config{})
//	db.Use(plugin) // right after gorm.Open
//
//	db.WithContext(r.Context()).Save(&order) // actor, request id… from the context
//
// # How it works
//
// Snapshot on load. When a query loads models (First, Take, Last, Find,
// FindInBatches, Preload), an after-query callback copies each one as it
// was loaded, like ActiveRecord's dirty tracking: the old values of its
// next update, with no extra SELECT. The copies live in a side table keyed
// by the model's address, with a weak.Pointer to the model, so models need
// no field of ours and a snapshot never keeps its model alive; once the
// model is garbage its weak pointer is nil, and a sweep of the table after
// each garbage collection (as the unique package does) drops the entry.
// For a []Order the key is the address of each element, an interior
// pointer into the slice's array, so each element has its own snapshot;
// the elements share one weak pointer, to the array, and their entries
// are dropped when the whole array is garbage. A copy of the struct
// (o := orders[i], a value returned by a function) has another address
// and so no snapshot: keep and save the value you loaded through its
// pointer, or set FetchOld.
// A model loaded with Select or Omit of some columns gets no snapshot
// either, since the columns it did not load are not the row's.
//
// Diff on update. The plugin builds the statement's SET clause (GORM's own
// ConvertToAssignments, run a step early so that the clause is still there
// after the update) and compares each assigned column's new value, as GORM
// assigned it to the model, with the snapshot. Only columns that changed
// are recorded, as {column: [old, new]}; Save writes every column but
// records only those. A successful update replaces the snapshot with the
// saved state, so a second update diffs against the first one's result.
// Snapshots are never written once made, so the event reads its values
// from the old snapshot and the new one when the Logger encodes it
// (audit.ChangeSet): what the application does with the model after Save
// does not change the event.
//
// Emission after commit. The plugin wraps the connection pool of the
// gorm.DB (db.ConnPool, and db.Statement.ConnPool) so that every
// transaction begun on it, GORM's own per-statement transaction included,
// is one of ours. The after-create/update/delete callbacks add their
// events to the statement's transaction; its Commit records them (in
// statement order) once the database has committed, and Rollback drops
// them and puts back the snapshots the transaction replaced. Nested
// transactions (db.Transaction inside db.Transaction) are savepoints: the
// transaction follows the SAVEPOINT, ROLLBACK TO SAVEPOINT and RELEASE
// SAVEPOINT statements run through it, so a nested block that fails loses
// its own events only. A statement outside any transaction
// (SkipDefaultTransaction) is recorded as soon as it succeeds. This holds
// in prepared statement mode too (PrepareStmt: the pool under GORM's
// *gorm.PreparedStmtDB is wrapped). Because kansa numbers events when they
// are recorded, a rollback leaves no gap in the stream's sequence.
//
// The context. Events are recorded with the statement's context
// (db.WithContext(ctx)), so the scope the request's context carries —
// actor, request id, endpoint, IP — is the event's. When the scope names
// neither an endpoint nor a caller (a job, or no WithContext), the event's
// context.caller is the application function that ran the statement, even
// when the event is recorded later, at commit.
//
// # What is recorded
//
// Create: one event per inserted row, {column: value} for every column,
// including the generated id and timestamps. Rows that ON CONFLICT DO
// NOTHING skipped (their key still zero) are not recorded; an upsert (ON
// CONFLICT DO UPDATE, and Save of a slice) is recorded as a create with the
// values written. Creating from map[string]any records the map's columns.
//
// Update of a model with a primary key (Save, db.Model(&order).Updates,
// Update, UpdateColumn(s), and each element of db.Model(&orders)): one
// event for the row, target id from the model. The old values come from the
// snapshot; without one, from the row FetchOld selected; otherwise the
// event holds the new values only, {column: new}, with meta
// {"old_values": "unknown"}. An update that changes nothing, or nothing
// but an auto-update timestamp (updated_at), records nothing: such
// timestamp columns are never recorded in updates, the event's time says
// when. A column set by a SQL expression (gorm.Expr("total + 1"), a
// subquery) has no value GORM knows: it is named in meta
// {"expressions": {column: SQL}} and the model's snapshot is dropped.
//
// Delete of a model with a primary key (db.Delete(&order), each element of
// db.Delete(&orders)): one event for the row with its values as loaded
// (snapshot, or FetchOld's row); otherwise just the key, with old values
// unknown. Soft deletes (gorm.DeletedAt) add meta {"soft_delete": true}.
//
// Batch statements, without a model key (db.Model(&Order{}).Where(…)
// .Updates(…), db.Where(…).Delete(&Order{}), db.Delete(&Order{}, ids)):
//
//   - with FetchOld, one event per row the statement touched, with its old
//     values, from a SELECT of the same WHERE run first in the same
//     transaction (FOR UPDATE on PostgreSQL and MySQL; SQLite serializes
//     writers anyway);
//   - else, when the WHERE clause names the rows by primary key in GORM's
//     own conditions (db.Delete(&Order{}, 17), Where(&Order{ID: 17})) and
//     every one of them was affected, one event per id, values unknown;
//   - else one event for the statement: target type and table but no id,
//     the new values of an update, and meta {"where": SQL, "rows_affected":
//     n, "old_values": "unknown"}. The WHERE is written with its arguments
//     inline, unless the model has a redacted column (an argument could be
//     its value): then with placeholders.
//
// Statements that affect no row record nothing, and neither do DryRun
// sessions.
//
// Not recorded: raw SQL (db.Exec, db.Raw), statements without a model
// (db.Table("orders").Where(…).Updates(map…): GORM has no schema for them),
// and anything else that runs no create, update or delete callback — for changes made outside the ORM use
// the PostgreSQL change-capture input of kansa, which reads them from the
// database's WAL. Models loaded by raw SQL (db.Raw(…).Find or .Scan,
// db.Rows) get no snapshot: which columns they hold is unknown. In a transaction that is not begun through the wrapped pool —
// one begun on the *sql.Conn of db.Connection, or a gorm.DB opened on a
// *sql.Tx — the plugin cannot see the commit, and records each statement as
// soon as it succeeds. With FetchOld on PostgreSQL, a SELECT that fails
// (a WHERE valid in an UPDATE but not in a SELECT) aborts the transaction,
// and so the statement; the event says why in meta.fetch_error.
//
// # Targets
//
// target.type is the Go type's name ("Order"), or ModelOptions.Type.
// target.id is the primary key as text: 17, 9007199254740993 (exact, as
// every int64), "ord_7". The parts of a composite key are joined with ','
// in the order of the model's primary key fields, a ',' or '\' in a part
// escaped with '\': "17,3", `a\,b,3`. target.table is the table;
// target.schema the schema a table is qualified with (a TableName of
// "sales.orders", db.Table("sales.orders")), else Config.Schema.
//
// # Configuration
//
// Config.Models restricts recording to some models; Config.Options and
// ModelOptions give per-model options; Config.Except and Config.Redacted
// name columns of every model. In the model itself:
//
//	type User struct {
//		ID             int64
//		PasswordDigest string `audit:"redacted"` // {"password_digest": ["[REDACTED]", "[REDACTED]"]}
//		LastSeenAt     time.Time `audit:"-"`    // never recorded; alone, no event
//	}
//
// A column is left out or redacted if the tag or any configuration says
// so. Values are recorded as they were when the statement ran: a pointer
// is followed, a []byte copied, and a slice, map or struct (other than
// time.Time and driver.Valuers, which give their driver value) written as
// its JSON — made from the snapshot's copy when the event is encoded, or
// when the statement runs if the snapshot cannot own the value (a map of
// interfaces, say).
//
// # Performance
//
// The callbacks run on the request path, and do as little there as they
// can. Per-model metadata (columns, their offsets, comparisons and
// options) is built once per GORM schema and read without locks.
//
// A snapshot is one allocation per loaded or saved row: a copy of the
// struct with, in the same allocation, the values its pointer columns
// point to (plus one per non-nil slice or map column). The side table is
// sharded by address; a model value (or a slice of them) seen for the
// first time costs a weak handle, and nothing per load after that.
//
// An update compares each assigned column in place, without boxing
// (integers, floats, strings, bools, times, []byte, pointers to those,
// the sql.Null types; other types through reflect and their driver
// values), writes the new snapshot, and records an event whose
// audit.ChangeSet is one small allocation naming the changed columns:
// their values are boxed when the Logger's goroutine encodes the event,
// read from the two snapshots (strings and times not even boxed then).
// Creates and deletes do the same with the row's snapshot. Values of
// columns a snapshot shares with the model (a map[string]any's values, an
// interface) are boxed at once instead, as is everything of a statement
// without snapshots (batches, expressions).
//
// BenchmarkUpdateCapture, a load and an update changing 2 of 9 columns
// without a database, measured about 1.4 µs and 6 allocations per change
// on a 2-core machine: the plugin's own part is about 0.6 µs and 3
// allocations (the two snapshots and the change set); the rest is mostly
// audit.Logger.Record, GORM's boxing of the SET values, and the Logger's
// goroutine encoding the event. BenchmarkCapturedChangeCPU is the whole
// CPU cost of such a change, encoding and spool write included (about
// 2.7 µs); BenchmarkSnapshotLoad that of loading a model seen for the
// first time; BenchmarkUpdateSQLite compares an update through GORM with
// and without the plugin. FetchOld costs one SELECT per update or delete
// that has no snapshot.
package gormaudit
