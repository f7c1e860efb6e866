// Package pgcdc is PostgreSQL change capture: a logical replication client
// (pgoutput) on a named slot and publication. Every committed insert,
// update and delete of the published tables becomes an event, joined with
// the application context the same transaction sent with
// pg_logical_emit_message (docs/pgcdc.md).
package pgcdc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/input"
	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// MessagePrefix is the prefix of the logical decoding messages that carry
// application context (the SDK's audit.EmitContext writes them).
const MessagePrefix = "kansa"

// Config is one change-capture input (inputs.postgres in the config).
type Config struct {
	// Name makes the source pgcdc:NAME and names the checkpoint.
	Name string `yaml:"name"`
	// DSN is a connection string of a role with REPLICATION.
	DSN string `yaml:"dsn"`
	// Slot is the replication slot, created (pgoutput) when missing.
	// Default kansa_NAME.
	Slot string `yaml:"slot"`
	// Publication names the tables (CREATE PUBLICATION … FOR TABLE …).
	Publication string `yaml:"publication"`
	// Tenant is stamped on the events. Default: the config's tenant.
	Tenant string `yaml:"tenant"`
	// StatusInterval is how often the confirmed position is reported to the
	// server, and the slot's lag measured. Default 10s.
	StatusInterval time.Duration `yaml:"status_interval"`
}

// Input follows a slot.
type Input struct {
	cfg    Config
	source string
	ckpt   string
	app    input.Appender
	log    *slog.Logger
	lag    atomic.Int64 // bytes of WAL the slot holds back, -1 unknown

	// LastInWAL, when set, returns the origin end_lsn of this input's
	// newest event still in kansa's WAL. Run takes the larger of it and the
	// checkpoint: a transaction made durable just before a crash, whose
	// checkpoint was not saved, is not captured twice.
	LastInWAL func() (string, error)
}

// CheckDSN reports whether dsn is a connection string pgx can use.
func CheckDSN(dsn string) error {
	_, err := pgx.ParseConfig(dsn)
	return err
}

// New checks cfg; stateDir holds the checkpoint.
func New(cfg Config, tenant, stateDir string, app input.Appender, log *slog.Logger) (*Input, error) {
	if cfg.Name == "" || cfg.DSN == "" || cfg.Publication == "" {
		return nil, errors.New("inputs.postgres: name, dsn and publication are required")
	}
	if cfg.Slot == "" {
		cfg.Slot = "kansa_" + cfg.Name
	}
	if cfg.Tenant == "" {
		cfg.Tenant = tenant
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = 10 * time.Second
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	in := &Input{cfg: cfg, source: "pgcdc:" + cfg.Name, ckpt: filepath.Join(stateDir, "pgcdc-"+cfg.Name+".json"), app: app, log: log}
	in.lag.Store(-1)
	return in, nil
}

// Source is the events' source.
func (in *Input) Source() string { return in.source }

// Lag is how many bytes of WAL the slot holds back (-1 before the first
// measurement).
func (in *Input) Lag() int64 { return in.lag.Load() }

type checkpoint struct {
	// LSN is the end of the last transaction whose events are durable.
	LSN string `json:"lsn"`
}

func (in *Input) load() (pglogrepl.LSN, error) {
	data, err := os.ReadFile(in.ckpt)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var c checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return 0, fmt.Errorf("%s: %w", in.ckpt, err)
	}
	return pglogrepl.ParseLSN(c.LSN)
}

func (in *Input) save(lsn pglogrepl.LSN) error {
	data, _ := json.Marshal(checkpoint{LSN: lsn.String()})
	return objstore.WriteFile(in.ckpt, data)
}

// relation is a table as pgoutput described it, with its primary key's
// columns (under REPLICA IDENTITY FULL pgoutput marks every column as key).
type relation struct {
	schema, table string
	cols          []*pglogrepl.RelationMessageColumn
	pkey          map[string]bool
}

// txn is the transaction being decoded.
type txn struct {
	xid    uint32
	events []*event.Event
	ctx    appContext
	hasCtx bool
}

// appContext is what the application sent in the transaction.
type appContext struct {
	Actor *struct {
		Type string          `json:"type"`
		ID   json.RawMessage `json:"id"` // a string or a number
		Name string          `json:"name"`
	} `json:"actor"`
	RequestID string          `json:"request_id"`
	Endpoint  string          `json:"endpoint"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"user_agent"`
	Host      string          `json:"host"`
	Caller    string          `json:"caller"`
	TraceID   string          `json:"trace_id"`
	Tenant    string          `json:"tenant"`
	Meta      json.RawMessage `json:"meta"`
}

// Run follows the slot until ctx ends. Events of a transaction are
// appended at its commit, made durable, then the checkpoint is saved and
// the position confirmed to the server: a restart resumes after the last
// durable transaction, and a transaction the server sends again (confirmed
// too late) is skipped, so the archive gets each change once.
func (in *Input) Run(ctx context.Context) error {
	done, err := in.load()
	if err != nil {
		return err
	}
	if in.LastInWAL != nil {
		s, err := in.LastInWAL()
		if err != nil {
			return err
		}
		if s != "" {
			lsn, err := pglogrepl.ParseLSN(s)
			if err != nil {
				return err
			}
			done = max(done, lsn)
		}
	}
	ctlCfg, err := pgx.ParseConfig(in.cfg.DSN)
	if err != nil {
		return fmt.Errorf("inputs.postgres %s: dsn: %w", in.cfg.Name, err)
	}
	ctl, err := pgx.ConnectConfig(ctx, ctlCfg)
	if err != nil {
		return err
	}
	defer ctl.Close(context.Background())
	var exists, pub bool
	if err := ctl.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1), EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $2)",
		in.cfg.Slot, in.cfg.Publication).Scan(&exists, &pub); err != nil {
		return err
	}
	if !pub {
		// Checked before the slot is made: a slot started on a missing
		// publication stays failing even once it exists.
		return fmt.Errorf("publication %q does not exist: CREATE PUBLICATION %s FOR TABLE … on the database first", in.cfg.Publication, in.cfg.Publication)
	}
	replCfg, err := pgconn.ParseConfig(in.cfg.DSN)
	if err != nil {
		return err
	}
	replCfg.RuntimeParams["replication"] = "database"
	conn, err := pgconn.ConnectConfig(ctx, replCfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if !exists {
		if _, err := pglogrepl.CreateReplicationSlot(ctx, conn, in.cfg.Slot, "pgoutput", pglogrepl.CreateReplicationSlotOptions{Mode: pglogrepl.LogicalReplication}); err != nil {
			return fmt.Errorf("create replication slot %s: %w", in.cfg.Slot, err)
		}
		in.log.Info("replication slot created", "slot", in.cfg.Slot)
	}
	args := []string{"proto_version '1'", "publication_names " + quoteLiteral(in.cfg.Publication), "messages 'true'"}
	if err := pglogrepl.StartReplication(ctx, conn, in.cfg.Slot, done, pglogrepl.StartReplicationOptions{PluginArgs: args}); err != nil {
		return fmt.Errorf("start replication on slot %s: %w", in.cfg.Slot, err)
	}
	rels := map[uint32]*relation{}
	var cur *txn
	confirmed := done
	nextStatus := time.Now()
	// Committed transactions wait in pending and are made durable together
	// (one WAL sync, one checkpoint) when no more comes at once, or at
	// groupEvents: many small transactions then cost one fsync.
	var pending []*event.Event
	var pendingEnd pglogrepl.LSN
	var pendingSince time.Time
	flush := func() error {
		if pendingEnd <= done {
			return nil
		}
		if err := in.durable(ctx, pending); err != nil {
			return err
		}
		if err := in.save(pendingEnd); err != nil {
			return err
		}
		done, confirmed, pending = pendingEnd, pendingEnd, pending[:0]
		return nil
	}
	for {
		if time.Now().After(nextStatus) {
			if err := pglogrepl.SendStandbyStatusUpdate(ctx, conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: confirmed, WALFlushPosition: confirmed, WALApplyPosition: confirmed}); err != nil {
				return err
			}
			var lag *int64
			if err := ctl.QueryRow(ctx, "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", in.cfg.Slot).Scan(&lag); err == nil && lag != nil {
				in.lag.Store(*lag)
			}
			nextStatus = time.Now().Add(in.cfg.StatusInterval)
		}
		deadline := nextStatus
		if pendingEnd > done {
			deadline = pendingSince.Add(groupWait)
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		msg, err := conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if pgconn.Timeout(err) {
				if err := flush(); err != nil {
					return err
				}
				continue
			}
			return err
		}
		cd, ok := msg.(*pgproto3.CopyData)
		if !ok {
			if e, ok := msg.(*pgproto3.ErrorResponse); ok {
				return fmt.Errorf("replication: %s", e.Message)
			}
			continue
		}
		switch cd.Data[0] {
		case pglogrepl.PrimaryKeepaliveMessageByteID:
			ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(cd.Data[1:])
			if err != nil {
				return err
			}
			if ka.ReplyRequested {
				nextStatus = time.Now()
			}
		case pglogrepl.XLogDataByteID:
			x, err := pglogrepl.ParseXLogData(cd.Data[1:])
			if err != nil {
				return err
			}
			m, err := pglogrepl.Parse(x.WALData)
			if err != nil {
				return err
			}
			switch m := m.(type) {
			case *pglogrepl.RelationMessage:
				rel := &relation{schema: m.Namespace, table: m.RelationName, cols: m.Columns, pkey: map[string]bool{}}
				rows, err := ctl.Query(ctx, `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
					WHERE i.indrelid = $1 AND i.indisprimary`, m.RelationID)
				if err != nil {
					return err
				}
				for rows.Next() {
					var c string
					if err := rows.Scan(&c); err != nil {
						return err
					}
					rel.pkey[c] = true
				}
				if err := rows.Err(); err != nil {
					return err
				}
				rels[m.RelationID] = rel
			case *pglogrepl.TruncateMessage:
				for _, id := range m.RelationIDs {
					if rel := rels[id]; rel != nil && cur != nil {
						cur.events = append(cur.events, &event.Event{Action: "truncate", Source: in.source, Tenant: in.cfg.Tenant, Outcome: event.OutcomeSuccess,
							Target: &event.Target{Type: "PostgreSQL::Table", ID: rel.schema + "." + rel.table, Schema: rel.schema, Table: rel.table}})
					}
				}
			case *pglogrepl.BeginMessage:
				cur = &txn{xid: m.Xid}
			case *pglogrepl.LogicalDecodingMessage:
				if cur != nil && m.Transactional && m.Prefix == MessagePrefix {
					var c appContext
					if err := json.Unmarshal(m.Content, &c); err != nil {
						in.log.Warn("application context message does not parse; the transaction's changes go without it", "xid", cur.xid, "err", err)
						break
					}
					cur.ctx, cur.hasCtx = c, true
				}
			case *pglogrepl.InsertMessage:
				in.change(cur, rels[m.RelationID], "create", nil, m.Tuple)
			case *pglogrepl.UpdateMessage:
				in.change(cur, rels[m.RelationID], "update", m.OldTuple, m.NewTuple)
			case *pglogrepl.DeleteMessage:
				in.change(cur, rels[m.RelationID], "delete", m.OldTuple, nil)
			case *pglogrepl.CommitMessage:
				if cur == nil {
					break
				}
				if m.TransactionEndLSN <= done {
					cur = nil // durable before a restart: sent again, skipped
					break
				}
				if pendingEnd <= done {
					pendingSince = time.Now()
				}
				pending = append(pending, in.stamp(cur, m)...)
				pendingEnd, cur = m.TransactionEndLSN, nil
				if len(pending) >= groupEvents {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
	}
}

// change adds a row change to the transaction's events.
func (in *Input) change(t *txn, rel *relation, action string, old, new *pglogrepl.TupleData) {
	if t == nil || rel == nil {
		return
	}
	ev := &event.Event{Action: action, Source: in.source, Tenant: in.cfg.Tenant, Outcome: event.OutcomeSuccess}
	ev.Target = &event.Target{Type: rel.schema + "." + rel.table, Schema: rel.schema, Table: rel.table}
	values := func(td *pglogrepl.TupleData) map[string]*pglogrepl.TupleDataColumn {
		out := map[string]*pglogrepl.TupleDataColumn{}
		if td == nil {
			return out
		}
		for i, c := range td.Columns {
			if i < len(rel.cols) {
				out[rel.cols[i].Name] = c
			}
		}
		return out
	}
	ov, nv := values(old), values(new)
	// The row's id: its primary key's values (new row, else old); without a
	// primary key, the replica identity's columns.
	var key []string
	for _, c := range rel.cols {
		if len(rel.pkey) > 0 && !rel.pkey[c.Name] || len(rel.pkey) == 0 && c.Flags&1 == 0 {
			continue
		}
		v := nv[c.Name]
		if v == nil || v.DataType == 'u' {
			v = ov[c.Name]
		}
		if v != nil {
			key = append(key, string(v.Data))
		}
	}
	ev.Target.ID = strings.Join(key, ",")
	if ev.Target.ID == "" {
		ev.Target.ID = "?"
	}
	ch := []byte{'{'}
	n := 0
	for _, c := range rel.cols {
		o, nw := ov[c.Name], nv[c.Name]
		var val []byte
		switch action {
		case "create":
			if nw == nil {
				continue
			}
			val = jsonValue(nil, c.DataType, nw)
		case "delete":
			if o == nil {
				continue
			}
			val = jsonValue(nil, c.DataType, o)
		default:
			if nw == nil || nw.DataType == 'u' {
				continue // unchanged TOASTed value: not sent
			}
			if o == nil {
				// Without REPLICA IDENTITY FULL the old row is not sent: the
				// new value alone.
				val = jsonValue(nil, c.DataType, nw)
				break
			}
			if o.DataType == nw.DataType && string(o.Data) == string(nw.Data) {
				continue // unchanged
			}
			val = append(jsonValue(append(val, '['), c.DataType, o), ',')
			val = append(jsonValue(val, c.DataType, nw), ']')
		}
		if n > 0 {
			ch = append(ch, ',')
		}
		ch = rawjson.AppendQuote(ch, c.Name)
		ch = append(append(ch, ':'), val...)
		n++
	}
	if n > 0 {
		ev.Changes = append(ch, '}')
	}
	t.events = append(t.events, ev)
}

// jsonValue renders a column value: numbers and booleans as JSON, the
// rest as strings; NULL as null.
func jsonValue(dst []byte, oid uint32, c *pglogrepl.TupleDataColumn) []byte {
	switch c.DataType {
	case 'n':
		return append(dst, "null"...)
	case 'u':
		return append(dst, "null"...)
	}
	s := string(c.Data)
	switch oid {
	case 20, 21, 23, 26, 700, 701, 1700: // int8, int2, int4, oid, float4, float8, numeric
		if json.Valid(c.Data) {
			return append(dst, c.Data...)
		}
	case 16: // bool
		if s == "t" {
			return append(dst, "true"...)
		}
		if s == "f" {
			return append(dst, "false"...)
		}
	case 114, 3802: // json, jsonb
		if json.Valid(c.Data) {
			return append(dst, c.Data...)
		}
	}
	return rawjson.AppendQuote(dst, s)
}

// Grouping of committed transactions: at most groupEvents events, and a
// transaction waits at most groupWait for others to join it.
const (
	groupEvents = 5000
	groupWait   = 5 * time.Millisecond
)

// stamp gives the transaction's events their time, context and ids.
func (in *Input) stamp(t *txn, m *pglogrepl.CommitMessage) []*event.Event {
	for i, ev := range t.events {
		ev.ID = event.DeriveID([]byte("pgcdc"), []byte(in.cfg.Slot), []byte(m.CommitLSN.String()), strconv.AppendInt(nil, int64(i), 10))
		ev.Time = m.CommitTime.UTC().Truncate(time.Microsecond)
		o := []byte(`{"lsn":`)
		o = rawjson.AppendQuote(o, m.CommitLSN.String())
		o = append(o, `,"end_lsn":`...)
		o = rawjson.AppendQuote(o, m.TransactionEndLSN.String())
		o = append(o, `,"xid":`...)
		o = strconv.AppendUint(o, uint64(t.xid), 10)
		o = append(o, `,"index":`...)
		o = strconv.AppendInt(o, int64(i), 10)
		ev.Origin = append(o, '}')
		if t.hasCtx {
			c := t.ctx
			if id := rawText(c.Actor); id != "" {
				ev.Actor = &event.Actor{Type: c.Actor.Type, ID: id, Name: c.Actor.Name}
				if ev.Actor.Type == "" {
					ev.Actor.Type = "User"
				}
			}
			ev.Context = event.Context{Host: c.Host, IP: c.IP, UserAgent: c.UserAgent, RequestID: c.RequestID, Endpoint: c.Endpoint, Caller: c.Caller, TraceID: c.TraceID}
			if c.Tenant != "" {
				ev.Tenant = c.Tenant
			}
			if len(c.Meta) > 0 && rawjson.KindOf(c.Meta) == rawjson.Object {
				ev.Meta = append([]byte(nil), c.Meta...)
			}
		}
	}
	return t.events
}

// durable appends events to the WAL and waits for them to be synced.
func (in *Input) durable(ctx context.Context, events []*event.Event) error {
	if len(events) == 0 {
		return nil
	}
	var good []*event.Event
	var bad []input.Bad
	for _, ev := range events {
		if err := ev.Validate(); err != nil {
			bad = append(bad, input.Bad{Err: &mapping.Error{Type: "invalid", Err: err}, Line: ev.AppendJSON(nil)})
			continue
		}
		good = append(good, ev)
	}
	last, err := in.app.Append(ctx, good, bad, in.source, in.cfg.Tenant, time.Now())
	if err != nil {
		return err
	}
	return in.app.Sync(ctx, last, len(good))
}

// rawText is the actor's id as text: a JSON string's value or a number.
func rawText(a *struct {
	Type string          `json:"type"`
	ID   json.RawMessage `json:"id"`
	Name string          `json:"name"`
}) string {
	if a == nil || len(a.ID) == 0 || string(a.ID) == "null" {
		return ""
	}
	if s, err := rawjson.Text(a.ID); err == nil {
		return s
	}
	return string(a.ID)
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
