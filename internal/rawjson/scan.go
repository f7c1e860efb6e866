package rawjson

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// SyntaxError reports malformed JSON and the byte offset where it was found.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

// ErrNotObject is returned by Fields when the input is valid JSON but not an
// object.
var ErrNotObject = errors.New("JSON value is not an object")

// maxDepth bounds nesting so a hostile line cannot exhaust the stack.
const maxDepth = 512

// Kind is the type of a raw JSON value, read from its first byte.
type Kind uint8

const (
	Invalid Kind = iota
	Object
	Array
	String
	Number
	Bool
	Null
)

var kindNames = [...]string{"invalid", "object", "array", "string", "number", "bool", "null"}

func (k Kind) String() string { return kindNames[k] }

// KindOf returns the kind of a value as returned by the scanner (no leading
// whitespace).
func KindOf(v []byte) Kind {
	if len(v) == 0 {
		return Invalid
	}
	switch v[0] {
	case '{':
		return Object
	case '[':
		return Array
	case '"':
		return String
	case 't', 'f':
		return Bool
	case 'n':
		return Null
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return Number
	}
	return Invalid
}

// Field is one member of an object: Key is the raw key between its quotes
// (escapes not decoded; see KeyEscaped), Value the raw value.
type Field struct {
	Key        []byte
	Value      []byte
	KeyEscaped bool // the key contains a backslash escape
	// FieldsDeep: Deep marks a member whose object value's members follow
	// it in the slice, each marked Nested.
	Deep, Nested bool
}

// Fields validates data as one JSON object (surrounding whitespace allowed)
// and appends its top-level members to dst, in input order. On error, dst is
// returned with whatever was appended before the error; callers should not use
// it. Duplicate keys are kept; lookups return the last one, like encoding/json.
func Fields(dst []Field, data []byte) ([]Field, error) { return FieldsDeep(dst, data, nil) }

// FieldsDeep is Fields that also reads, in the same scan, the members of
// each top-level member whose value is an object and whose raw key deep
// reports true: that member is marked Deep (its Value is still the whole
// object) and its members follow it in dst, marked Nested. One scan reads
// what Fields and an ObjectFields of each such value would read in two.
func FieldsDeep(dst []Field, data []byte, deep func(key []byte) bool) ([]Field, error) {
	i := skipWS(data, 0)
	if i >= len(data) {
		return dst, &SyntaxError{i, "empty input"}
	}
	if data[i] != '{' {
		end, err := skipValue(data, i, 0)
		if err != nil {
			return dst, err
		}
		if j := skipWS(data, end); j != len(data) {
			return dst, &SyntaxError{j, "data after top-level value"}
		}
		return dst, ErrNotObject
	}
	dst, end, err := objectFields(dst, data, i, 0, deep)
	if err != nil {
		return dst, err
	}
	if j := skipWS(data, end); j != len(data) {
		return dst, &SyntaxError{j, "data after top-level value"}
	}
	return dst, nil
}

// Members returns the members FieldsDeep read of fields[i]'s object
// (none unless it is marked Deep): the Nested fields that follow it.
func Members(fields []Field, i int) []Field {
	if !fields[i].Deep {
		return nil
	}
	j := i + 1
	for j < len(fields) && fields[j].Nested {
		j++
	}
	return fields[i+1 : j]
}

// ObjectFields is Fields for a value already known to be an object as the
// scanner returned it (e.g. a Field.Value): it appends its members to dst.
func ObjectFields(dst []Field, obj []byte) ([]Field, error) {
	if KindOf(obj) != Object {
		return dst, ErrNotObject
	}
	dst, _, err := objectFields(dst, obj, 0, 0, nil)
	return dst, err
}

// Lookup returns the value of the last member named key in fields.
func Lookup(fields []Field, key string) ([]byte, bool) {
	for i := len(fields) - 1; i >= 0; i-- {
		f := &fields[i]
		if f.KeyEscaped {
			var buf [64]byte
			k, err := Unquote(buf[:0], f.Key)
			if err == nil && string(k) == key {
				return f.Value, true
			}
			continue
		}
		if string(f.Key) == key {
			return f.Value, true
		}
	}
	return nil, false
}

// Get returns the value of member key of the raw object obj, scanning it.
func Get(obj []byte, key string) ([]byte, bool) {
	if KindOf(obj) != Object {
		return nil, false
	}
	var found []byte
	ok := false
	_ = eachField(obj, func(k []byte, esc bool, v []byte) {
		if esc {
			var buf [64]byte
			u, err := Unquote(buf[:0], k)
			if err != nil || string(u) != key {
				return
			}
		} else if string(k) != key {
			return
		}
		found, ok = v, true
	})
	return found, ok
}

// Valid reports whether data is exactly one valid JSON value.
func Valid(data []byte) bool {
	i := skipWS(data, 0)
	end, err := skipValue(data, i, 0)
	if err != nil {
		return false
	}
	return skipWS(data, end) == len(data)
}

// Trim returns the single JSON value in data without surrounding whitespace,
// validating it.
func Trim(data []byte) ([]byte, error) {
	i := skipWS(data, 0)
	end, err := skipValue(data, i, 0)
	if err != nil {
		return nil, err
	}
	if j := skipWS(data, end); j != len(data) {
		return nil, &SyntaxError{j, "data after top-level value"}
	}
	return data[i:end], nil
}

// Elements calls fn for each element of the raw array arr, in order.
func Elements(arr []byte, fn func(i int, v []byte) error) error {
	if KindOf(arr) != Array {
		return errors.New("JSON value is not an array")
	}
	i := skipWS(arr, 1)
	if i < len(arr) && arr[i] == ']' {
		return nil
	}
	for n := 0; ; n++ {
		end, err := skipValue(arr, i, 1)
		if err != nil {
			return err
		}
		if err := fn(n, arr[i:end]); err != nil {
			return err
		}
		i = skipWS(arr, end)
		if i >= len(arr) {
			return &SyntaxError{i, "unterminated array"}
		}
		if arr[i] == ']' {
			return nil
		}
		if arr[i] != ',' {
			return &SyntaxError{i, "expected ',' or ']' in array"}
		}
		i = skipWS(arr, i+1)
	}
}

// eachField walks an object already validated by the scanner.
func eachField(obj []byte, fn func(k []byte, esc bool, v []byte)) error {
	var buf [16]Field
	fs, _, err := objectFields(buf[:0], obj, 0, 0, nil)
	if err != nil {
		return err
	}
	for _, f := range fs {
		fn(f.Key, f.KeyEscaped, f.Value)
	}
	return nil
}

// objectFields appends the members of the object at data[i]; with deep,
// those of the members it picks too (FieldsDeep).
func objectFields(dst []Field, data []byte, i, depth int, deep func([]byte) bool) ([]Field, int, error) {
	// data[i] == '{'
	i = skipWS(data, i+1)
	if i < len(data) && data[i] == '}' {
		return dst, i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return dst, i, &SyntaxError{i, "expected string key in object"}
		}
		kend, esc, err := skipString(data, i)
		if err != nil {
			return dst, i, err
		}
		key := data[i+1 : kend-1]
		i = skipWS(data, kend)
		if i >= len(data) || data[i] != ':' {
			return dst, i, &SyntaxError{i, "expected ':' after object key"}
		}
		i = skipWS(data, i+1)
		var vend int
		if deep != nil && i < len(data) && data[i] == '{' && !esc && deep(key) {
			p := len(dst)
			dst = append(dst, Field{Key: key, Deep: true})
			if dst, vend, err = objectFields(dst, data, i, depth+1, nil); err != nil {
				return dst, i, err
			}
			for k := p + 1; k < len(dst); k++ {
				dst[k].Nested = true
			}
			dst[p].Value = data[i:vend]
		} else {
			if vend, err = skipValue(data, i, depth+1); err != nil {
				return dst, i, err
			}
			dst = append(dst, Field{Key: key, Value: data[i:vend], KeyEscaped: esc})
		}
		i = skipWS(data, vend)
		if i >= len(data) {
			return dst, i, &SyntaxError{i, "unterminated object"}
		}
		if data[i] == '}' {
			return dst, i + 1, nil
		}
		if data[i] != ',' {
			return dst, i, &SyntaxError{i, "expected ',' or '}' in object"}
		}
		i = skipWS(data, i+1)
	}
}

func skipWS(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipValue returns the end offset of the value starting at data[i].
func skipValue(data []byte, i, depth int) (int, error) {
	if depth > maxDepth {
		return i, &SyntaxError{i, "nesting too deep"}
	}
	if i >= len(data) {
		return i, &SyntaxError{i, "unexpected end of input"}
	}
	switch c := data[i]; c {
	case '"':
		end, _, err := skipString(data, i)
		return end, err
	case '{':
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return i, &SyntaxError{i, "expected string key in object"}
			}
			end, _, err := skipString(data, i)
			if err != nil {
				return end, err
			}
			i = skipWS(data, end)
			if i >= len(data) || data[i] != ':' {
				return i, &SyntaxError{i, "expected ':' after object key"}
			}
			i = skipWS(data, i+1)
			if i, err = skipValue(data, i, depth+1); err != nil {
				return i, err
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return i, &SyntaxError{i, "unterminated object"}
			}
			if data[i] == '}' {
				return i + 1, nil
			}
			if data[i] != ',' {
				return i, &SyntaxError{i, "expected ',' or '}' in object"}
			}
			i = skipWS(data, i+1)
		}
	case '[':
		i = skipWS(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		for {
			var err error
			if i, err = skipValue(data, i, depth+1); err != nil {
				return i, err
			}
			i = skipWS(data, i)
			if i >= len(data) {
				return i, &SyntaxError{i, "unterminated array"}
			}
			if data[i] == ']' {
				return i + 1, nil
			}
			if data[i] != ',' {
				return i, &SyntaxError{i, "expected ',' or ']' in array"}
			}
			i = skipWS(data, i+1)
		}
	case 't':
		return literal(data, i, "true")
	case 'f':
		return literal(data, i, "false")
	case 'n':
		return literal(data, i, "null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			return skipNumber(data, i)
		}
		return i, &SyntaxError{i, fmt.Sprintf("unexpected character %q", c)}
	}
}

func literal(data []byte, i int, lit string) (int, error) {
	if len(data)-i < len(lit) || string(data[i:i+len(lit)]) != lit {
		return i, &SyntaxError{i, "invalid literal"}
	}
	return i + len(lit), nil
}

func skipNumber(data []byte, i int) (int, error) {
	start := i
	if data[i] == '-' {
		i++
	}
	if i >= len(data) {
		return i, &SyntaxError{start, "invalid number"}
	}
	switch {
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return i, &SyntaxError{start, "invalid number"}
	}
	if i < len(data) && data[i] == '.' {
		i++
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			return i, &SyntaxError{start, "invalid number"}
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		d := i
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		if i == d {
			return i, &SyntaxError{start, "invalid number"}
		}
	}
	return i, nil
}

// skipString returns the offset after the closing quote of the string that
// starts at data[i], and whether it contains escapes.
func skipString(data []byte, i int) (int, bool, error) {
	start := i
	i++
	esc := false
	for {
		j := stringSpecial(data[i:])
		i += j
		if i >= len(data) {
			return len(data), esc, &SyntaxError{start, "unterminated string"}
		}
		if data[i] == '"' {
			return i + 1, esc, nil
		}
		if data[i] < 0x20 {
			return i, esc, &SyntaxError{i, "control character in string"}
		}
		esc = true
		if i+1 >= len(data) {
			return i, esc, &SyntaxError{start, "unterminated string"}
		}
		switch data[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(data) {
				return i, esc, &SyntaxError{i, "short unicode escape"}
			}
			for _, h := range data[i+2 : i+6] {
				if !isHex(h) {
					return i, esc, &SyntaxError{i, "invalid unicode escape"}
				}
			}
			i += 6
		default:
			return i, esc, &SyntaxError{i, "invalid escape"}
		}
	}
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// Unquote appends the decoded contents of the raw JSON string s (with or
// without its surrounding quotes) to dst. Invalid UTF-8 is kept as is.
func Unquote(dst, s []byte) ([]byte, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	for len(s) > 0 {
		j := bytes.IndexByte(s, '\\')
		if j < 0 {
			return append(dst, s...), nil
		}
		dst = append(dst, s[:j]...)
		s = s[j:]
		if len(s) < 2 {
			return dst, errors.New("truncated escape")
		}
		switch s[1] {
		case '"', '\\', '/':
			dst = append(dst, s[1])
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r, n, err := decodeU(s)
			if err != nil {
				return dst, err
			}
			dst = utf8.AppendRune(dst, r)
			s = s[n:]
			continue
		default:
			return dst, fmt.Errorf("invalid escape \\%c", s[1])
		}
		s = s[2:]
	}
	return dst, nil
}

func decodeU(s []byte) (rune, int, error) {
	if len(s) < 6 {
		return 0, 0, errors.New("short unicode escape")
	}
	v, err := strconv.ParseUint(string(s[2:6]), 16, 32)
	if err != nil {
		return 0, 0, errors.New("invalid unicode escape")
	}
	r := rune(v)
	if r >= 0xD800 && r < 0xDC00 && len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
		if lo, err := strconv.ParseUint(string(s[8:12]), 16, 32); err == nil && lo >= 0xDC00 && lo < 0xE000 {
			return (r-0xD800)<<10 + (rune(lo) - 0xDC00) + 0x10000, 12, nil
		}
	}
	if r >= 0xD800 && r < 0xE000 {
		r = utf8.RuneError
	}
	return r, 6, nil
}

// Text returns the decoded string value of raw, which must be a JSON
// string. It allocates the Go string, and a scratch buffer only when the
// string has escapes.
func Text(raw []byte) (string, error) {
	if KindOf(raw) != String {
		return "", fmt.Errorf("expected a string, got %s", KindOf(raw))
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	b, err := Unquote(nil, inner)
	return string(b), err
}

// TextAlias returns the string value of raw without copying when it has no
// escapes (ok false otherwise, or when raw is not a string). The string
// aliases raw: it changes if raw's bytes do.
func TextAlias(raw []byte) (string, bool) {
	if KindOf(raw) != String {
		return "", false
	}
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') >= 0 {
		return "", false
	}
	return unsafe.String(unsafe.SliceData(inner), len(inner)), true
}

const hexDigits = "0123456789abcdef"

// AppendQuote appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// (written as UTF-8, so quoting the result's decoding gives the same bytes);
// '<', '>' and '&' are not escaped (the output is not HTML).
func AppendQuote[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		i += quoteSafe(bytesOf(s)[i:])
		if i >= len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRune(bytesOf(s)[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += n
			start = i
			continue
		}
		i += n
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// bytesOf views a string or byte slice as bytes without copying. The result
// must not be modified.
func bytesOf[S ~string | ~[]byte](s S) []byte {
	switch v := any(s).(type) {
	case []byte:
		return v
	case string:
		return unsafe.Slice(unsafe.StringData(v), len(v))
	}
	// Named string or slice types: one copy, off the hot paths.
	return []byte(string(s))
}

// AppendOneLine appends the JSON text v without its CR and LF bytes. In
// valid JSON a line break can only be whitespace between tokens (inside a
// string it must be escaped), so the value is the same, on one line: one
// record per line of NDJSON, whatever the sender's layout.
func AppendOneLine(dst, v []byte) []byte {
	if bytes.IndexByte(v, '\n') < 0 && bytes.IndexByte(v, '\r') < 0 {
		return append(dst, v...)
	}
	for _, c := range v {
		if c != '\n' && c != '\r' {
			dst = append(dst, c)
		}
	}
	return dst
}
