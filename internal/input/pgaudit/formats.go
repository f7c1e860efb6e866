package pgaudit

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/kansa-audit/kansa/internal/rawjson"
)

// csvlog columns (PostgreSQL 13 to 17 share the first 23).
const (
	csvTime = iota
	csvUser
	csvDB
	csvPID
	csvFrom
	csvSession
	csvLineNum
	csvTag
	csvSessionStart
	csvVXID
	csvTXID
	csvSeverity
	csvState
	csvMessage
	csvDetail
	csvHint
	csvInternalQuery
	csvInternalQueryPos
	csvContext
	csvQuery
	csvQueryPos
	csvLocation
	csvApp
)

// nextCSV: a record is lines up to one that leaves the quotes balanced.
func (r *Reader) nextCSV(e *Entry) error {
	for {
		start := r.off
		r.raw = r.raw[:0]
		quotes := 0
		for {
			l, _, err := r.line()
			if err == io.EOF && len(r.raw) == 0 {
				return io.EOF
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				r.off = start
				return ErrPartial
			}
			if err != nil {
				return err
			}
			if len(r.raw) > 0 {
				r.raw = append(r.raw, '\n')
			}
			r.raw = append(r.raw, l...)
			quotes += bytes.Count(l, []byte{'"'})
			if quotes%2 == 0 {
				break
			}
		}
		var fs [csvApp + 1]string
		n := 0
		splitCSV(r.raw, func(i int, v []byte) {
			if i < len(fs) {
				fs[i] = string(v)
				n = i + 1
			}
		})
		if n <= csvMessage || !strings.HasPrefix(fs[csvMessage], "AUDIT: ") {
			continue
		}
		*e = Entry{Offset: start, Raw: r.raw, User: fs[csvUser], Database: fs[csvDB], App: fs[csvApp], Session: fs[csvSession],
			PID: atoi64(fs[csvPID]), LineNum: atoi64(fs[csvLineNum])}
		e.Host, e.Port = splitFrom(fs[csvFrom])
		e.Time = r.parseTime(fs[csvTime])
		if err := parseAudit([]byte(fs[csvMessage][len("AUDIT: "):]), e); err != nil {
			return &EntryError{start, r.raw, err}
		}
		return nil
	}
}

// splitFrom splits csvlog's connection_from, "host:port" or "[local]".
func splitFrom(s string) (host, port string) {
	if s == "" || s == "[local]" {
		return s, ""
	}
	if i := strings.LastIndexByte(s, ':'); i > 0 && !strings.HasSuffix(s, "]") {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// nextJSON: one object per line.
func (r *Reader) nextJSON(e *Entry) error {
	for {
		l, start, err := r.line()
		if err == io.ErrUnexpectedEOF {
			return ErrPartial
		}
		if err != nil {
			return err
		}
		if !bytes.Contains(l, []byte(`"AUDIT: `)) {
			continue // cheaply past the other entries
		}
		if r.fields, err = rawjson.Fields(r.fields[:0], l); err != nil {
			return fmt.Errorf("offset %d: %w", start, err)
		}
		if msgRaw, ok := rawjson.Lookup(r.fields, "message"); !ok || !bytes.HasPrefix(msgRaw, []byte(`"AUDIT: `)) {
			continue
		}
		r.raw = append(r.raw[:0], l...)
		*e = Entry{Offset: start, Raw: r.raw}
		text := func(k string) string {
			v, ok := rawjson.Lookup(r.fields, k)
			if !ok {
				return ""
			}
			if s, err := rawjson.Text(v); err == nil {
				return s
			}
			return string(v) // a number
		}
		e.User, e.Database, e.Host, e.Port = text("user"), text("dbname"), text("remote_host"), text("remote_port")
		e.App, e.Session = text("application_name"), text("session_id")
		e.PID, e.LineNum = atoi64(text("pid")), atoi64(text("line_num"))
		e.Time = r.parseTime(text("timestamp"))
		msg := text("message")
		if err := parseAudit([]byte(msg[len("AUDIT: "):]), e); err != nil {
			return &EntryError{start, r.raw, err}
		}
		return nil
	}
}

// splitCSV calls fn with each field of one CSV record, unquoted (a doubled
// quote inside quotes is one quote).
func splitCSV(rec []byte, fn func(i int, v []byte)) {
	var buf []byte
	for i := 0; ; i++ {
		if len(rec) > 0 && rec[0] == '"' {
			buf = buf[:0]
			j := 1
			for j < len(rec) {
				if rec[j] == '"' {
					if j+1 < len(rec) && rec[j+1] == '"' {
						buf = append(buf, '"')
						j += 2
						continue
					}
					j++
					break
				}
				k := bytes.IndexByte(rec[j:], '"')
				if k < 0 {
					k = len(rec) - j
				}
				buf = append(buf, rec[j:j+k]...)
				j += k
			}
			fn(i, buf)
			rec = rec[j:]
		} else {
			k := bytes.IndexByte(rec, ',')
			if k < 0 {
				fn(i, rec)
				return
			}
			fn(i, rec[:k])
			rec = rec[k:]
		}
		if len(rec) == 0 || rec[0] != ',' {
			return
		}
		rec = rec[1:]
	}
}

// parseAudit reads pgAudit's payload: AUDIT_TYPE,STATEMENT_ID,
// SUBSTATEMENT_ID,CLASS,COMMAND,OBJECT_TYPE,OBJECT_NAME,STATEMENT,PARAMETER…
// The parameter is <none>, <not logged>, <previously logged>, or the
// values, one CSV field each.
func parseAudit(p []byte, e *Entry) error {
	n := 0
	splitCSV(p, func(i int, v []byte) {
		n = i + 1
		switch i {
		case 0:
			e.AuditType = string(v)
		case 1:
			e.StatementID = atoi64(string(v))
		case 2:
			e.SubstatementID = atoi64(string(v))
		case 3:
			e.Class = string(v)
		case 4:
			e.Command = string(v)
		case 5:
			e.ObjectType = string(v)
		case 6:
			e.ObjectName = string(v)
		case 7:
			e.Statement = string(v)
		case 8:
			// One field: a note, or the values as a CSV list of their own.
			s := string(v)
			if s == "<none>" || s == "<not logged>" || s == "<previously logged>" {
				e.ParamsNote = s
				return
			}
			e.Params = []string{}
			splitCSV(v, func(_ int, p []byte) { e.Params = append(e.Params, string(p)) })
		}
	})
	if n < 8 || (e.AuditType != "SESSION" && e.AuditType != "OBJECT") {
		return fmt.Errorf("not a pgAudit entry: %.80q", p)
	}
	return nil
}
