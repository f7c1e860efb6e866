package pgaudit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kansa-audit/kansa/internal/rawjson"
)

// Format is how the server writes its log.
type Format int

const (
	Stderr Format = iota // log_destination = stderr, with a log_line_prefix
	CSV                  // csvlog
	JSON                 // jsonlog (PostgreSQL 15 and later)
)

// ParseFormat reads a format's name: stderr, csv or json.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "stderr", "":
		return Stderr, nil
	case "csv", "csvlog":
		return CSV, nil
	case "json", "jsonlog":
		return JSON, nil
	}
	return 0, fmt.Errorf("pgaudit format %q: want stderr, csv or json", s)
}

// Entry is one pgAudit entry and where the server says it came from.
type Entry struct {
	Time                                     time.Time
	User, Database, Host, Port, App, Session string
	PID, LineNum                             int64
	AuditType                                string // SESSION or OBJECT
	StatementID, SubstatementID              int64
	Class, Command, ObjectType, ObjectName   string
	Statement                                string
	Params                                   []string // the values, when logged
	ParamsNote                               string   // <none>, <not logged>, <previously logged>, or ""
	Offset                                   int64    // of the log entry's first byte in the file
	Raw                                      []byte   // the log entry as written, all its lines (valid until the next call)
}

// Reader reads the pgAudit entries of a log stream; other log entries are
// skipped.
type Reader struct {
	br     *bufio.Reader
	format Format
	prefix *Prefix
	loc    *time.Location
	off    int64 // of the next unread byte

	// stderr: a line read ahead (the first line of the next entry)
	ahead    []byte
	aheadOff int64
	haveNext bool

	raw    []byte
	msg    []byte
	fields []rawjson.Field // jsonlog
	final  bool
}

// NewReader reads entries in format from r, whose first byte is at offset
// off of its file. prefix is the server's log_line_prefix (stderr only);
// loc reads time zone abbreviations in log times (the server's
// log_timezone; nil is UTC).
func NewReader(r io.Reader, off int64, format Format, prefix *Prefix, loc *time.Location) *Reader {
	if loc == nil {
		loc = time.UTC
	}
	return &Reader{br: bufio.NewReaderSize(r, 256<<10), format: format, prefix: prefix, loc: loc, off: off}
}

// Offset is the offset just after the last entry returned (or skipped):
// where reading resumes.
func (r *Reader) Offset() int64 {
	if r.haveNext {
		return r.aheadOff
	}
	return r.off
}

// line reads one line without its newline; it returns io.EOF at the end,
// and io.ErrUnexpectedEOF for a last line without a newline (a line being
// written: it is not consumed).
func (r *Reader) line() ([]byte, int64, error) {
	start := r.off
	b, err := r.br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		full := append([]byte(nil), b...)
		for err == bufio.ErrBufferFull {
			b, err = r.br.ReadSlice('\n')
			full = append(full, b...)
		}
		b = full
	}
	if err == io.EOF {
		if len(b) > 0 && r.final {
			r.off += int64(len(b)) // a finished file's last line, without its newline
			return b, start, nil
		}
		if len(b) > 0 {
			return nil, start, io.ErrUnexpectedEOF
		}
		return nil, start, io.EOF
	}
	if err != nil {
		return nil, start, err
	}
	r.off += int64(len(b))
	b = b[:len(b)-1]
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b, start, nil
}

// EntryError is an AUDIT entry that does not parse. The reader has moved
// past it: the caller sends Raw to the error output and goes on.
type EntryError struct {
	Offset int64
	Raw    []byte // valid until the next call
	Err    error
}

func (e *EntryError) Error() string { return fmt.Sprintf("offset %d: %v", e.Offset, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// ErrPartial: the stream ends inside an entry; tailing reads it again from
// Offset once more is written.
var ErrPartial = errors.New("log ends inside an entry")

// Next returns the next pgAudit entry. At the end it returns io.EOF, or
// ErrPartial when the stream ends in the middle of an entry.
func (r *Reader) Next(e *Entry) error {
	switch r.format {
	case CSV:
		return r.nextCSV(e)
	case JSON:
		return r.nextJSON(e)
	}
	return r.nextStderr(e)
}

// nextStderr: an entry is a line the prefix matches, followed by lines
// that begin with a tab.
func (r *Reader) nextStderr(e *Entry) error {
	for {
		var first []byte
		var start int64
		if r.haveNext {
			first, start = r.ahead, r.aheadOff
			r.haveNext = false
		} else {
			var err error
			if first, start, err = r.line(); err != nil {
				if err == io.ErrUnexpectedEOF {
					return ErrPartial
				}
				return err
			}
		}
		r.raw = append(r.raw[:0], first...)
		var f fields
		rest, ok := r.prefix.match(first, &f)
		var msg []byte
		if ok {
			_, msg, ok = severity(rest)
		}
		if !ok || !bytes.HasPrefix(msg, []byte("AUDIT: ")) {
			// Not an audit entry (or a stray continuation): skip it and
			// its continuation lines.
			if err := r.skipContinuations(); err != nil {
				return err
			}
			continue
		}
		r.msg = append(r.msg[:0], msg...)
		// Continuation lines: the message goes on after a newline.
		for {
			l, off, err := r.line()
			if err == io.EOF && r.final {
				break // a finished file: the entry is whole
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				// The entry may go on once more is written: resume at its start.
				r.off, r.haveNext = start, false
				return ErrPartial
			}
			if err != nil {
				return err
			}
			if len(l) > 0 && l[0] == '\t' {
				r.raw = append(append(r.raw, '\n'), l...)
				r.msg = append(append(r.msg, '\n'), l[1:]...)
				continue
			}
			r.ahead, r.aheadOff, r.haveNext = append(r.ahead[:0], l...), off, true
			break
		}
		*e = Entry{Offset: start, Raw: r.raw, User: f.user, Database: f.db, Host: f.host, Port: f.port, App: f.app,
			Session: f.session, PID: atoi64(f.pid), LineNum: atoi64(f.lineNum)}
		e.Time = r.parseTime(f.time)
		if err := parseAudit(r.msg[len("AUDIT: "):], e); err != nil {
			return &EntryError{start, r.raw, err}
		}
		return nil
	}
}

// Final says the stream is a finished file (kansa import): at its end, the
// last entry is whole. A tailing reader leaves it unset and gets
// ErrPartial instead, to read the entry again once more is written.
func (r *Reader) Final() { r.final = true }

func (r *Reader) skipContinuations() error {
	for {
		l, off, err := r.line()
		if err == io.EOF {
			return nil
		}
		if err == io.ErrUnexpectedEOF {
			return nil // the next call sees it again
		}
		if err != nil {
			return err
		}
		if len(l) > 0 && l[0] == '\t' {
			continue
		}
		r.ahead, r.aheadOff, r.haveNext = append(r.ahead[:0], l...), off, true
		return nil
	}
}

func (r *Reader) parseTime(s string) time.Time {
	if s == "" {
		return time.Time{}
	}
	if !strings.ContainsAny(s, "-: ") {
		if ms, err := strconv.ParseFloat(s, 64); err == nil {
			return time.UnixMicro(int64(ms * 1e6)).UTC() // %n
		}
	}
	for _, layout := range []string{"2006-01-02 15:04:05.000 MST", "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05.000 -07", "2006-01-02 15:04:05 -07"} {
		if t, err := time.ParseInLocation(layout, s, r.loc); err == nil {
			return t
		}
	}
	return time.Time{}
}
