// Package pgaudit reads pgAudit's entries out of a PostgreSQL server log,
// in the three formats the server writes (stderr with a log_line_prefix,
// csvlog, jsonlog), and maps them to kansa events (docs/pgaudit.md).
package pgaudit

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Prefix is a compiled log_line_prefix: the server writes it before the
// severity of every stderr log line.
type Prefix struct {
	src   string
	parts []part
}

type part struct {
	lit  string // a literal, or
	esc  byte   // an escape's letter: 't', 'm', 'r', 'u', …
	stop bool   // %q: what follows is only written for session processes
}

// Prefixes users have: Amazon RDS and Aurora's, and Debian's default.
const (
	PrefixRDS    = "%t:%r:%u@%d:[%p]:"
	PrefixDebian = "%m [%p] %q%u@%d "
)

// ParsePrefix compiles a log_line_prefix. Escapes: %a application, %u
// user, %d database, %r host(port) or [local], %h host, %p pid, %t time,
// %m time with milliseconds, %n epoch with milliseconds, %l line number,
// %c session id, %s session start, %v virtual transaction, %x
// transaction, %e SQLSTATE, %i command tag, %b backend type, %Q query id,
// %q, %%. Padding (%-10u) is accepted and ignored.
func ParsePrefix(s string) (*Prefix, error) {
	p := &Prefix{src: s}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			p.parts = append(p.parts, part{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			lit.WriteByte(s[i])
			continue
		}
		i++
		for i < len(s) && (s[i] == '-' || s[i] >= '0' && s[i] <= '9') {
			i++ // padding
		}
		if i >= len(s) {
			return nil, fmt.Errorf("log_line_prefix %q: ends in %%", s)
		}
		switch c := s[i]; c {
		case '%':
			lit.WriteByte('%')
		case 'q':
			flush()
			p.parts = append(p.parts, part{stop: true})
		case 'a', 'u', 'd', 'r', 'h', 'p', 't', 'm', 'n', 'l', 'c', 's', 'v', 'x', 'e', 'i', 'b', 'Q', 'P':
			flush()
			if n := len(p.parts); n > 0 && p.parts[n-1].esc != 0 && c != 't' && c != 'm' {
				return nil, fmt.Errorf("log_line_prefix %q: %%%c right after another escape cannot be told apart from it", s, c)
			}
			p.parts = append(p.parts, part{esc: c})
		default:
			return nil, fmt.Errorf("log_line_prefix %q: unknown escape %%%c", s, c)
		}
	}
	flush()
	return p, nil
}

func (p *Prefix) String() string { return p.src }

// fields are what a prefix gives; all are optional.
type fields struct {
	time, user, db, host, port, pid, app, session, lineNum, vxid, txid, tag, backend string
}

// match parses the prefix at the start of line and returns what it gave
// and the rest of the line. ok is false when line does not start with the
// prefix (a continuation, or a line from another program).
func (p *Prefix) match(line []byte, f *fields) (rest []byte, ok bool) {
	rest = line
	for i, pt := range p.parts {
		switch {
		case pt.stop:
			continue
		case pt.lit != "":
			if !bytes.HasPrefix(rest, []byte(pt.lit)) {
				return nil, false
			}
			rest = rest[len(pt.lit):]
			continue
		}
		// An escape's value runs to the next literal, or for the time
		// escapes over their fixed shape.
		var v []byte
		switch pt.esc {
		case 't', 'm':
			n := len("2006-01-02 15:04:05")
			if pt.esc == 'm' {
				n += len(".000")
			}
			if len(rest) < n+2 {
				return nil, false
			}
			// Then a space and the zone's abbreviation (letters, digits, +, -).
			j := n + 1
			for j < len(rest) && (isAlnum(rest[j]) || rest[j] == '+' || rest[j] == '-') {
				j++
			}
			v, rest = rest[:j], rest[j:]
		default:
			next := p.nextLiteral(i)
			if next == "" {
				// The prefix's last part: up to the severity, which
				// follows the prefix directly.
				j := bytes.IndexByte(rest, ' ')
				if pt.esc == 'r' || pt.esc == 'h' || j < 0 {
					return nil, false
				}
				v, rest = rest[:j], rest[j:]
			} else {
				j := bytes.Index(rest, []byte(next))
				if pt.esc == 'r' {
					// host(port), where an IPv6 host has colons itself,
					// or [local] for a Unix socket.
					if bytes.HasPrefix(rest, []byte("[local]")) {
						j = len("[local]")
					} else if k := bytes.IndexByte(rest, ')'); k > 0 && bytes.HasPrefix(rest[k+1:], []byte(next)) {
						j = k + 1
					}
				}
				if j < 0 {
					return nil, false
				}
				v, rest = rest[:j], rest[j:]
			}
		}
		f.set(pt.esc, v)
	}
	return rest, true
}

func (p *Prefix) nextLiteral(i int) string {
	for _, pt := range p.parts[i+1:] {
		if pt.lit != "" {
			return pt.lit
		}
		if pt.esc != 0 {
			return ""
		}
	}
	return ""
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (f *fields) set(esc byte, v []byte) {
	s := string(v)
	switch esc {
	case 't', 'm', 'n':
		f.time = s
	case 'u':
		f.user = s
	case 'd':
		f.db = s
	case 'r':
		if s == "[local]" {
			f.host = s
			break
		}
		if i := strings.LastIndexByte(s, '('); i >= 0 && strings.HasSuffix(s, ")") {
			f.host, f.port = s[:i], s[i+1:len(s)-1]
		} else {
			f.host = s
		}
	case 'h':
		f.host = s
	case 'p':
		f.pid = s
	case 'a':
		f.app = s
	case 'c':
		f.session = s
	case 'l':
		f.lineNum = s
	case 'v':
		f.vxid = s
	case 'x':
		f.txid = s
	case 'i':
		f.tag = s
	case 'b':
		f.backend = s
	}
}

// severities are the levels the server writes before a message.
var severities = []string{"LOG", "NOTICE", "WARNING", "INFO", "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5", "ERROR", "FATAL", "PANIC", "STATEMENT", "DETAIL", "HINT", "CONTEXT"}

// severity cuts "LOG:  " off the start of rest.
func severity(rest []byte) (sev string, msg []byte, ok bool) {
	for _, s := range severities {
		if len(rest) > len(s)+3 && string(rest[:len(s)]) == s && rest[len(s)] == ':' && rest[len(s)+1] == ' ' {
			return s, bytes.TrimLeft(rest[len(s)+1:], " "), true
		}
	}
	return "", nil, false
}

// atoi64 parses a decimal or returns 0.
func atoi64(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}
