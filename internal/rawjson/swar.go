package rawjson

import (
	"encoding/binary"
	"math/bits"
)

// Eight bytes at a time: the offset of the first byte that is '"', '\\' or
// a control character (< 0x20), or len(b) if there is none. The classic
// "has zero byte" and "has byte less than n" bit tricks may flag bytes after
// the first true match, but never before it, so the lowest flag is exact.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

func stringSpecial(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (ones * '"')
		s := x ^ (ones * '\\')
		m := ((x - ones*0x20) & ^x) | ((q - ones) & ^q) | ((s - ones) & ^s)
		if m &= highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' {
			return i
		}
	}
	return len(b)
}

// quoteSafe returns the length of the prefix of b that AppendQuote copies
// as is: printable ASCII other than '"' and '\\'.
func quoteSafe(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q := x ^ (ones * '"')
		s := x ^ (ones * '\\')
		m := ((x - ones*0x20) & ^x) | ((q - ones) & ^q) | ((s - ones) & ^s) | x
		if m &= highs; m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return i
		}
	}
	return len(b)
}
