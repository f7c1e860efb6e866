// Package audited reads the audits table of the audited gem (Ruby on
// Rails) out of PostgreSQL and maps its rows to kansa events, so that a
// team can move its history out of the application database
// (docs/pgaudit.md, "kansa import").
package audited

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.yaml.in/yaml/v3"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// Row is one audits row; every column but id is optional (older versions
// of the gem lack some).
type Row struct {
	ID                              int64
	AuditableID, AuditableType      *string
	AssociatedID, AssociatedType    *string
	UserID, UserType, Username      *string
	Action                          *string
	Changes                         *string // audited_changes as text: YAML (the gem's default) or JSON
	Version                         *int64
	Comment, RemoteAddress, Request *string
	CreatedAt                       time.Time
}

var columns = []string{"auditable_id", "auditable_type", "associated_id", "associated_type", "user_id", "user_type", "username",
	"action", "audited_changes", "version", "comment", "remote_address", "request_uuid"}

// Reader pages through a table by id.
type Reader struct {
	conn   *pgx.Conn
	table  string
	query  string
	LastID int64
}

// NewReader checks the table's columns and prepares to read rows with ids
// above after.
func NewReader(ctx context.Context, conn *pgx.Conn, table string, after int64) (*Reader, error) {
	have := map[string]bool{}
	rows, err := conn.Query(ctx, "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = ANY(current_schemas(false))", table)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, err
		}
		have[c] = true
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if !have["id"] || !have["created_at"] {
		return nil, fmt.Errorf("table %q: no id and created_at columns; is it the audited gem's audits table?", table)
	}
	sel := []string{"id", "created_at AT TIME ZONE 'UTC'"}
	for _, c := range columns {
		switch {
		case !have[c]:
			sel = append(sel, "NULL")
		case c == "version":
			sel = append(sel, pgx.Identifier{c}.Sanitize()+"::bigint")
		default:
			sel = append(sel, pgx.Identifier{c}.Sanitize()+"::text")
		}
	}
	q := fmt.Sprintf("SELECT %s FROM %s WHERE id > $1 ORDER BY id LIMIT $2", strings.Join(sel, ", "), pgx.Identifier{table}.Sanitize())
	return &Reader{conn: conn, table: table, query: q, LastID: after}, nil
}

// Next reads up to n rows after the last one read; none at the end.
func (r *Reader) Next(ctx context.Context, n int) ([]Row, error) {
	rows, err := r.conn.Query(ctx, r.query, r.LastID, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Row
	for rows.Next() {
		var w Row
		var created time.Time
		if err := rows.Scan(&w.ID, &created, &w.AuditableID, &w.AuditableType, &w.AssociatedID, &w.AssociatedType, &w.UserID, &w.UserType,
			&w.Username, &w.Action, &w.Changes, &w.Version, &w.Comment, &w.RemoteAddress, &w.Request); err != nil {
			return nil, err
		}
		w.CreatedAt = time.Date(created.Year(), created.Month(), created.Day(), created.Hour(), created.Minute(), created.Second(), created.Nanosecond(), time.UTC)
		out = append(out, w)
		r.LastID = w.ID
	}
	return out, rows.Err()
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// Event maps a row: target the auditable record, actor the user (or the
// username), audited_changes as changes (YAML or JSON), remote_address and
// request_uuid as context, version, comment and the associated record in
// meta; the id is derived from the table and the row's id.
func Event(w *Row, table, source, tenant string) (*event.Event, error) {
	ev := &event.Event{
		ID:      event.DeriveID([]byte("audited"), []byte(table), strconv.AppendInt(nil, w.ID, 10)),
		Time:    w.CreatedAt.Truncate(time.Microsecond),
		Source:  source,
		Tenant:  tenant,
		Outcome: event.OutcomeSuccess,
	}
	action := str(w.Action)
	ev.Action, _ = event.CanonicalAction(action)
	if t, id := str(w.AuditableType), str(w.AuditableID); t != "" && id != "" {
		ev.Target = &event.Target{Type: t, ID: id}
	}
	switch {
	case w.UserType != nil && w.UserID != nil:
		ev.Actor = &event.Actor{Type: *w.UserType, ID: *w.UserID, Name: str(w.Username)}
	case w.Username != nil && *w.Username != "":
		ev.Actor = &event.Actor{Type: "User", ID: *w.Username, Name: *w.Username}
	}
	ev.Context.IP, ev.Context.RequestID = str(w.RemoteAddress), str(w.Request)
	if w.Changes != nil && strings.TrimSpace(*w.Changes) != "" {
		c, err := Changes(*w.Changes)
		if err != nil {
			return nil, fmt.Errorf("audits id %d: audited_changes: %w", w.ID, err)
		}
		ev.Changes = c
	}
	m := []byte(`{"audited":{"id":`)
	m = strconv.AppendInt(m, w.ID, 10)
	if w.Version != nil {
		m = append(m, `,"version":`...)
		m = strconv.AppendInt(m, *w.Version, 10)
	}
	if w.Comment != nil {
		m = append(m, `,"comment":`...)
		m = rawjson.AppendQuote(m, *w.Comment)
	}
	if t, id := str(w.AssociatedType), str(w.AssociatedID); t != "" {
		m = append(m, `,"associated":{"type":`...)
		m = rawjson.AppendQuote(m, t)
		m = append(m, `,"id":`...)
		m = rawjson.AppendQuote(m, id)
		m = append(m, '}')
	}
	m = append(m, '}')
	if ev.Action != action {
		m = append(m, `,"original_action":`...)
		m = rawjson.AppendQuote(m, action)
	}
	ev.Meta = append(m, '}')
	o := []byte(`{"table":`)
	o = rawjson.AppendQuote(o, table)
	o = append(o, `,"id":`...)
	o = strconv.AppendInt(o, w.ID, 10)
	ev.Origin = append(o, '}')
	return ev, ev.Validate()
}

// Changes turns audited_changes into a JSON object: JSON as it is, or the
// gem's YAML (a serialized Hash), whose Ruby-tagged values (dates,
// decimals) become their text.
func Changes(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "{") {
		if !json.Valid([]byte(t)) {
			return nil, fmt.Errorf("not valid JSON")
		}
		return []byte(t), nil
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err != nil {
		return nil, err
	}
	if len(n.Content) == 0 {
		return nil, nil
	}
	root := n.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("YAML of kind %d, want a mapping", root.Kind)
	}
	return appendNode(nil, root), nil
}

func appendNode(dst []byte, n *yaml.Node) []byte {
	switch n.Kind {
	case yaml.MappingNode:
		dst = append(dst, '{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = rawjson.AppendQuote(dst, n.Content[i].Value)
			dst = append(dst, ':')
			dst = appendNode(dst, n.Content[i+1])
		}
		return append(dst, '}')
	case yaml.SequenceNode:
		dst = append(dst, '[')
		for i, c := range n.Content {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendNode(dst, c)
		}
		return append(dst, ']')
	case yaml.AliasNode:
		return appendNode(dst, n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) > 0 {
			return appendNode(dst, n.Content[0])
		}
		return append(dst, "null"...)
	}
	switch n.ShortTag() {
	case "!!null":
		return append(dst, "null"...)
	case "!!bool":
		if b, err := strconv.ParseBool(n.Value); err == nil {
			return strconv.AppendBool(dst, b)
		}
	case "!!int":
		if _, err := strconv.ParseInt(n.Value, 0, 64); err == nil && !strings.HasPrefix(n.Value, "0") || n.Value == "0" {
			return append(dst, n.Value...)
		}
	case "!!float":
		if json.Valid([]byte(n.Value)) {
			return append(dst, n.Value...)
		}
	}
	return rawjson.AppendQuote(dst, n.Value)
}
