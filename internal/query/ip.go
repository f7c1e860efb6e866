package query

import (
	"fmt"
	"net/netip"
	"strings"
)

// readIP reads an ip: value that is an address or a CIDR block. A block is
// kept masked (10.1.2.3/8 is 10.0.0.0/8), an address is its /32 or /128,
// zones are dropped, and IPv4-mapped IPv6 becomes IPv4.
func readIP(s string) (netip.Prefix, error) {
	bad := fmt.Errorf("%q is not an IP address or CIDR block; want an address (ip:10.0.0.1, ip:2001:db8::1), a block (ip:10.0.0.0/8, ip:2001:db8::/32) or a pattern (ip:10.0.*)", s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, bad
		}
		p = p.Masked()
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, bad
	}
	a = a.WithZone("").Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// writeIP writes a block as readIP reads it back: an address alone when
// the block is one address.
func writeIP(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// eventAddr reads context.ip as an address: alone, with a zone, or with a
// port (1.2.3.4:80, [2001:db8::1]:80). It returns the zero Addr for
// anything else. IPv4-mapped IPv6 becomes IPv4. It does not allocate,
// unlike netip.ParseAddr on bad input, because Match must not.
func eventAddr(s string) netip.Addr {
	if strings.HasPrefix(s, "[") {
		j := strings.IndexByte(s, ']')
		if j < 0 {
			return netip.Addr{}
		}
		s = s[1:j]
	} else if i := strings.IndexByte(s, ':'); i >= 0 && strings.IndexByte(s[i+1:], ':') < 0 {
		s = s[:i] // IPv4 with a port
	}
	if i := strings.IndexByte(s, '%'); i >= 0 {
		s = s[:i]
	}
	if strings.IndexByte(s, ':') < 0 {
		var ip [4]byte
		if !parseIPv4(s, ip[:]) {
			return netip.Addr{}
		}
		return netip.AddrFrom4(ip)
	}
	a, ok := parseIPv6(s)
	if !ok {
		return netip.Addr{}
	}
	return a.Unmap()
}

// parseIPv4 reads dotted decimal into ip (4 bytes), with the rules of
// netip.ParseAddr: four fields, no leading zeros.
func parseIPv4(s string, ip []byte) bool {
	field, digits := 0, 0
	val := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits == 1 && val == 0 {
				return false // leading zero
			}
			val = val*10 + int(c-'0')
			digits++
			if val > 255 {
				return false
			}
		case c == '.':
			if digits == 0 || field == 3 {
				return false
			}
			ip[field] = byte(val)
			field, digits, val = field+1, 0, 0
		default:
			return false
		}
	}
	if digits == 0 || field != 3 {
		return false
	}
	ip[3] = byte(val)
	return true
}

// parseIPv6 reads an IPv6 address without a zone, with the rules of
// netip.ParseAddr.
func parseIPv6(s string) (netip.Addr, bool) {
	var ip [16]byte
	ellipsis := -1 // where :: stands in ip
	if len(s) >= 2 && s[0] == ':' && s[1] == ':' {
		ellipsis = 0
		s = s[2:]
		if s == "" {
			return netip.IPv6Unspecified(), true
		}
	}
	i := 0
	for i < 16 {
		off, acc := 0, 0
		for ; off < len(s); off++ {
			d := hexDigit(s[off])
			if d < 0 {
				break
			}
			if off > 3 {
				return netip.Addr{}, false
			}
			acc = acc<<4 + d
		}
		if off == 0 {
			return netip.Addr{}, false
		}
		if off < len(s) && s[off] == '.' { // an IPv4 tail
			if ellipsis < 0 && i != 12 || i+4 > 16 || !parseIPv4(s, ip[i:i+4]) {
				return netip.Addr{}, false
			}
			s = ""
			i += 4
			break
		}
		ip[i], ip[i+1] = byte(acc>>8), byte(acc)
		i += 2
		s = s[off:]
		if s == "" {
			break
		}
		if s[0] != ':' || len(s) == 1 {
			return netip.Addr{}, false
		}
		s = s[1:]
		if s[0] == ':' {
			if ellipsis >= 0 {
				return netip.Addr{}, false
			}
			ellipsis = i
			s = s[1:]
			if s == "" {
				break
			}
		}
	}
	if s != "" {
		return netip.Addr{}, false
	}
	if i < 16 {
		if ellipsis < 0 {
			return netip.Addr{}, false
		}
		n := 16 - i
		copy(ip[ellipsis+n:], ip[ellipsis:i])
		clear(ip[ellipsis : ellipsis+n])
	} else if ellipsis >= 0 {
		return netip.Addr{}, false // :: must stand for at least one field
	}
	return netip.AddrFrom16(ip), true
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
