package pgaudit

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// ActorType names database roles in events: actor PostgreSQL::Role:postgres.
const ActorType = "PostgreSQL::Role"

// Event maps an entry to a kansa event (docs/pgaudit.md):
//
//   - id: derived from source, file and the entry's offset, so reading a
//     log twice gives the same ids (statement ids repeat: a statement logs
//     one entry per object);
//   - time: the log line's; action: the command, lower case, spaces as
//     underscores (select, insert, create_table), the class kept in meta;
//   - actor: the database role; target: the object, when logged
//     (PostgreSQL::Table:public.orders, with schema and table);
//   - context.ip: the client's address; meta: audit type, class, command,
//     statement and substatement ids, statement, parameters, database,
//     port, pid, application, session; origin: file and offset;
//   - original: the log entry as written.
func Event(e *Entry, source, tenant, file string) *event.Event {
	ev := &event.Event{
		ID:       event.DeriveID([]byte("pgaudit"), []byte(source), []byte(file), strconv.AppendInt(nil, e.Offset, 10)),
		Time:     e.Time.Truncate(time.Microsecond),
		Action:   action(e.Command),
		Source:   source,
		Tenant:   tenant,
		Outcome:  event.OutcomeSuccess,
		Original: append([]byte(nil), e.Raw...),
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC().Truncate(time.Microsecond)
	}
	if e.User != "" {
		ev.Actor = &event.Actor{Type: ActorType, ID: e.User}
	}
	if e.ObjectName != "" {
		t := &event.Target{Type: "PostgreSQL::" + titleWord(e.ObjectType), ID: e.ObjectName}
		if e.ObjectType == "TABLE" || e.ObjectType == "VIEW" || e.ObjectType == "MATERIALIZED VIEW" {
			if schema, table, ok := strings.Cut(e.ObjectName, "."); ok {
				t.Schema, t.Table = schema, table
			} else {
				t.Table = e.ObjectName
			}
		}
		ev.Target = t
	}
	if net.ParseIP(e.Host) != nil {
		ev.Context.IP = e.Host
	} else if e.Host != "" && e.Host != "[local]" {
		ev.Context.Host = e.Host
	}
	m := []byte(`{"pgaudit":{"type":`)
	m = rawjson.AppendQuote(m, e.AuditType)
	m = append(m, `,"class":`...)
	m = rawjson.AppendQuote(m, e.Class)
	m = append(m, `,"command":`...)
	m = rawjson.AppendQuote(m, e.Command)
	m = append(m, `,"statement_id":`...)
	m = strconv.AppendInt(m, e.StatementID, 10)
	m = append(m, `,"substatement_id":`...)
	m = strconv.AppendInt(m, e.SubstatementID, 10)
	m = append(m, `,"statement":`...)
	m = rawjson.AppendQuote(m, e.Statement)
	switch {
	case e.ParamsNote != "":
		m = append(m, `,"parameter":`...)
		m = rawjson.AppendQuote(m, e.ParamsNote)
	case e.Params != nil:
		m = append(m, `,"parameters":[`...)
		for i, p := range e.Params {
			if i > 0 {
				m = append(m, ',')
			}
			m = rawjson.AppendQuote(m, p)
		}
		m = append(m, ']')
	}
	m = append(m, `},"database":`...)
	m = rawjson.AppendQuote(m, e.Database)
	for _, kv := range [][2]string{{"client_port", e.Port}, {"application_name", e.App}, {"session_id", e.Session}} {
		if kv[1] != "" {
			m = append(m, ',', '"')
			m = append(m, kv[0]...)
			m = append(m, '"', ':')
			m = rawjson.AppendQuote(m, kv[1])
		}
	}
	if e.Host == "[local]" {
		m = append(m, `,"client":"[local]"`...)
	}
	if e.PID != 0 {
		m = append(m, `,"pid":`...)
		m = strconv.AppendInt(m, e.PID, 10)
	}
	ev.Meta = append(m, '}')
	o := []byte(`{"file":`)
	o = rawjson.AppendQuote(o, file)
	o = append(o, `,"offset":`...)
	o = strconv.AppendInt(o, e.Offset, 10)
	ev.Origin = append(o, '}')
	return ev
}

// action turns a command tag into an action: "CREATE TABLE" → create_table.
func action(cmd string) string {
	if cmd == "" || cmd == "???" {
		return "unknown"
	}
	b := make([]byte, 0, len(cmd))
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		switch {
		case c >= 'A' && c <= 'Z':
			b = append(b, c+'a'-'A')
		case c == ' ':
			b = append(b, '_')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// titleWord: "TABLE" → "Table", "MATERIALIZED VIEW" → "MaterializedView".
func titleWord(s string) string {
	if s == "" {
		return "Object"
	}
	var b strings.Builder
	for _, w := range strings.Fields(strings.ToLower(s)) {
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}
