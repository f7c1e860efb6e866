package archive

import (
	"fmt"
	"strings"
	"time"
)

// Template is a parsed object-key prefix template in Firehose's syntax:
//
//	!{timestamp:yyyy} !{timestamp:MM} !{timestamp:dd} !{timestamp:HH}
//	(any pattern of yyyy, yy, MM, dd, HH, mm, ss and literal punctuation)
//	!{tenant} !{source} !{error_type} (also spelled !{firehose:error-output-type})
//
// The timestamp is the event's own time, in the template's time zone. Values
// from producers (tenant, source) and error types are escaped with Escape.
type Template struct {
	src   string
	parts []part
}

type partKind uint8

const (
	partLiteral partKind = iota
	partTime
	partTenant
	partSource
	partErrorType
)

type part struct {
	kind partKind
	lit  string   // partLiteral
	time []string // partTime: tokens, each a field name or a literal
}

// Values are what a template is evaluated with.
type Values struct {
	Time      time.Time // already in the template's zone
	Tenant    string
	Source    string
	ErrorType string
}

// ParseTemplate parses and checks a prefix template. The result, evaluated,
// must never escape its root: templates may not start with "/" or contain
// "." or ".." path elements.
func ParseTemplate(s string) (*Template, error) {
	t := &Template{src: s}
	if strings.HasPrefix(s, "/") {
		return nil, fmt.Errorf("prefix %q: must not start with /", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f || s[i] == '\\' {
			return nil, fmt.Errorf("prefix %q: control characters and backslashes are not allowed", s)
		}
	}
	rest := s
	for rest != "" {
		i := strings.Index(rest, "!{")
		if i < 0 {
			t.parts = append(t.parts, part{kind: partLiteral, lit: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, part{kind: partLiteral, lit: rest[:i]})
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("prefix %q: unterminated !{", s)
		}
		expr := rest[i+2 : i+j]
		rest = rest[i+j+1:]
		switch {
		case expr == "tenant":
			t.parts = append(t.parts, part{kind: partTenant})
		case expr == "source":
			t.parts = append(t.parts, part{kind: partSource})
		case expr == "error_type", expr == "firehose:error-output-type":
			t.parts = append(t.parts, part{kind: partErrorType})
		case strings.HasPrefix(expr, "timestamp:"):
			toks, err := timeTokens(expr[len("timestamp:"):])
			if err != nil {
				return nil, fmt.Errorf("prefix %q: %w", s, err)
			}
			t.parts = append(t.parts, part{kind: partTime, time: toks})
		default:
			return nil, fmt.Errorf("prefix %q: unknown expression !{%s} (want !{timestamp:…}, !{tenant}, !{source} or !{error_type})", s, expr)
		}
	}
	for _, p := range t.parts {
		if p.kind != partLiteral {
			continue
		}
		for _, el := range strings.Split(p.lit, "/") {
			if el == "." || el == ".." {
				return nil, fmt.Errorf("prefix %q: . and .. are not allowed", s)
			}
		}
		if strings.Contains(p.lit, "//") {
			return nil, fmt.Errorf("prefix %q: empty path element", s)
		}
	}
	return t, nil
}

func (t *Template) String() string { return t.src }

// Uses reports which values the template depends on.
func (t *Template) Uses() (tm, tenant, source, errType bool) {
	for _, p := range t.parts {
		switch p.kind {
		case partTime:
			tm = true
		case partTenant:
			tenant = true
		case partSource:
			source = true
		case partErrorType:
			errType = true
		}
	}
	return
}

var timeFields = []string{"yyyy", "yy", "MM", "dd", "HH", "mm", "ss"}

func timeTokens(pat string) ([]string, error) {
	var toks []string
	for pat != "" {
		matched := false
		for _, f := range timeFields {
			if strings.HasPrefix(pat, f) {
				toks = append(toks, f)
				pat = pat[len(f):]
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		c := pat[0]
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') {
			return nil, fmt.Errorf("timestamp pattern: unsupported letter %q (use yyyy, yy, MM, dd, HH, mm, ss)", c)
		}
		if c == '/' || c == '.' {
			return nil, fmt.Errorf("timestamp pattern: %q not allowed inside !{timestamp:…}", c)
		}
		toks = append(toks, "'"+string(c))
		pat = pat[1:]
	}
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty timestamp pattern")
	}
	return toks, nil
}

// Append evaluates the template into dst.
func (t *Template) Append(dst []byte, v *Values) []byte {
	for _, p := range t.parts {
		switch p.kind {
		case partLiteral:
			dst = append(dst, p.lit...)
		case partTenant:
			dst = AppendEscaped(dst, v.Tenant)
		case partSource:
			dst = AppendEscaped(dst, v.Source)
		case partErrorType:
			dst = AppendEscaped(dst, v.ErrorType)
		case partTime:
			for _, tok := range p.time {
				switch tok {
				case "yyyy":
					dst = appendInt(dst, v.Time.Year(), 4)
				case "yy":
					dst = appendInt(dst, v.Time.Year()%100, 2)
				case "MM":
					dst = appendInt(dst, int(v.Time.Month()), 2)
				case "dd":
					dst = appendInt(dst, v.Time.Day(), 2)
				case "HH":
					dst = appendInt(dst, v.Time.Hour(), 2)
				case "mm":
					dst = appendInt(dst, v.Time.Minute(), 2)
				case "ss":
					dst = appendInt(dst, v.Time.Second(), 2)
				default:
					dst = append(dst, tok[1:]...)
				}
			}
		}
	}
	return dst
}

func appendInt(dst []byte, n, width int) []byte {
	var b [8]byte
	i := len(b)
	for n > 0 || width > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		width--
	}
	return append(dst, b[i:]...)
}

const upperHex = "0123456789ABCDEF"

// AppendEscaped appends a producer-supplied value so that it stays one path
// element and one Hive partition value: bytes outside [A-Za-z0-9._-] become
// %XX (as Hive escapes partition values, so engines decode them back), a
// value made only of dots has its dots escaped, and an empty value becomes
// "_". No escaped value can contain "/", "=" or ":", or climb with "..".
func AppendEscaped(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, '_')
	}
	onlyDots := strings.Trim(s, ".") == ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		safe := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || (c == '.' && !onlyDots)
		if safe {
			dst = append(dst, c)
		} else {
			dst = append(dst, '%', upperHex[c>>4], upperHex[c&0xf])
		}
	}
	return dst
}

// LoadLocation loads a time zone from the tz database embedded in the binary
// (time/tzdata), so "Asia/Tokyo" works in a scratch container. "" is UTC.
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w (use an IANA name such as Asia/Tokyo or UTC)", name, err)
	}
	return loc, nil
}

// PartitionKind is what a Hive-style partition of a template holds.
type PartitionKind uint8

const (
	PartitionTenant PartitionKind = iota + 1
	PartitionSource
	PartitionTime // Format says which fields of the event's time
)

// Partition is one Hive-style path element of a template, name=value.
type Partition struct {
	Name   string
	Kind   PartitionKind
	Format string // for PartitionTime: the pattern, "yyyy", "MM", "yyyy-MM-dd" (Java DateTimeFormatter letters)
}

// Partitions splits the template into the literal path it starts with
// (base, "" or ending in "/") and its Hive-style partitions, for query
// engines' DDL. Every element after base must be name=!{…} with one
// expression; a template that is not Hive-style is an error saying which
// element.
func (t *Template) Partitions() (base string, parts []Partition, err error) {
	type elem struct {
		lit   strings.Builder
		exprs []part
	}
	var els []*elem
	cur := &elem{}
	for _, p := range t.parts {
		if p.kind != partLiteral {
			cur.exprs = append(cur.exprs, p)
			cur.lit.WriteString("\x00") // marks where the expression is
			continue
		}
		lit := p.lit
		for {
			i := strings.IndexByte(lit, '/')
			if i < 0 {
				cur.lit.WriteString(lit)
				break
			}
			cur.lit.WriteString(lit[:i])
			els = append(els, cur)
			cur = &elem{}
			lit = lit[i+1:]
		}
	}
	if cur.lit.Len() > 0 {
		return "", nil, fmt.Errorf("prefix %q: end it with / so that its partitions are directories", t.src)
	}
	for _, e := range els {
		s := e.lit.String()
		if len(e.exprs) == 0 {
			if len(parts) > 0 {
				return "", nil, fmt.Errorf("prefix %q: literal element %q after a partition; query engines need name=value elements there", t.src, s)
			}
			base += s + "/"
			continue
		}
		name, val, ok := strings.Cut(s, "=")
		if !ok || name == "" || val != "\x00" || len(e.exprs) != 1 {
			return "", nil, fmt.Errorf("prefix %q: element %q is not Hive-style name=!{…} with one expression", t.src, strings.ReplaceAll(s, "\x00", "!{…}"))
		}
		p := Partition{Name: name}
		switch x := e.exprs[0]; x.kind {
		case partTenant:
			p.Kind = PartitionTenant
		case partSource:
			p.Kind = PartitionSource
		case partTime:
			p.Kind = PartitionTime
			for _, tok := range x.time {
				if tok[0] == '\'' {
					p.Format += tok[1:]
				} else {
					p.Format += tok
				}
			}
		default:
			return "", nil, fmt.Errorf("prefix %q: !{error_type} is not a partition of events", t.src)
		}
		parts = append(parts, p)
	}
	return base, parts, nil
}
