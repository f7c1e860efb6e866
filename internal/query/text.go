package query

import (
	"unicode"
	"unicode/utf8"
)

// containsText reports whether the raw JSON raw has, within one string
// (an object key or a value, its escapes decoded) or one number (as
// written), the text word, ignoring case (Unicode simple folding). true,
// false and null are not text. The empty word is in every text. It does not
// allocate.
func containsText(raw []byte, word string) bool {
	if word == "" {
		return true
	}
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == '"':
			end := stringEnd(raw, i+1)
			if containsFold(raw[i+1:end], word) {
				return true
			}
			i = end + 1
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(raw) && isNumberByte(raw[j]) {
				j++
			}
			if containsFold(raw[i:j], word) {
				return true
			}
			i = j
		default:
			i++
		}
	}
	return false
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-'
}

// stringEnd returns the index of the quote that closes the JSON string
// whose contents start at raw[i], or len(raw).
func stringEnd(raw []byte, i int) int {
	for i < len(raw) {
		switch raw[i] {
		case '\\':
			i += 2
		case '"':
			return i
		default:
			i++
		}
	}
	return len(raw)
}

// containsFold reports whether the contents of a JSON string s (escapes
// not yet decoded) contain word, ignoring case.
func containsFold(s []byte, word string) bool {
	// A word that starts with an ASCII byte can start only at that byte in
	// either case, at an escape, or at a rune that is not ASCII (the
	// Kelvin sign folds to k).
	ascii := word[0] < utf8.RuneSelf
	lower, upper := word[0], word[0]
	if 'A' <= lower && lower <= 'Z' {
		lower += 'a' - 'A'
	} else if 'a' <= upper && upper <= 'z' {
		upper -= 'a' - 'A'
	}
	for i := 0; i < len(s); {
		if c := s[i]; ascii && c < utf8.RuneSelf && c != lower && c != upper && c != '\\' {
			i++
			continue
		}
		if hasPrefixFold(s[i:], word) {
			return true
		}
		_, n := jsonRune(s, i)
		i += n
	}
	return false
}

func hasPrefixFold(s []byte, word string) bool {
	i := 0
	for _, w := range word {
		if i >= len(s) {
			return false
		}
		r, n := jsonRune(s, i)
		if !foldEqual(r, w) {
			return false
		}
		i += n
	}
	return true
}

// jsonRune decodes the character at s[i] of a JSON string's contents: an
// escape (\n, \u00e9, a surrogate pair) or a UTF-8 sequence. It returns the
// rune and the bytes it takes; a broken escape is a backslash of one byte.
func jsonRune(s []byte, i int) (rune, int) {
	c := s[i]
	if c >= utf8.RuneSelf {
		return utf8.DecodeRune(s[i:])
	}
	if c != '\\' || i+1 == len(s) {
		return rune(c), 1
	}
	switch s[i+1] {
	case '"', '\\', '/':
		return rune(s[i+1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r := hex4(s, i+2)
		if r < 0 {
			return '\\', 1
		}
		if r >= 0xd800 && r < 0xdc00 && i+11 < len(s) && s[i+6] == '\\' && s[i+7] == 'u' {
			if lo := hex4(s, i+8); lo >= 0xdc00 && lo < 0xe000 {
				return (r-0xd800)<<10 + (lo - 0xdc00) + 0x10000, 12
			}
		}
		return r, 6
	}
	return '\\', 1
}

// hex4 reads four hex digits at s[i], or returns -1.
func hex4(s []byte, i int) rune {
	if i+4 > len(s) {
		return -1
	}
	var r rune
	for _, c := range s[i : i+4] {
		d := hexDigit(c)
		if d < 0 {
			return -1
		}
		r = r<<4 | rune(d)
	}
	return r
}

// foldEqual reports whether a and b are the same letter in any case, as
// strings.EqualFold compares them.
func foldEqual(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		return a == b
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}
