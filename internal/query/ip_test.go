package query

import (
	"net/netip"
	"strings"
	"testing"
)

func TestEventAddr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"10.1.2.3", "10.1.2.3"},
		{"10.1.2.3:443", "10.1.2.3"},
		{"::ffff:10.1.2.3", "10.1.2.3"},
		{"[::ffff:10.1.2.3]:80", "10.1.2.3"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:DB8:0:0::1", "2001:db8::1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"fe80::1%eth0", "fe80::1"},
		{"[fe80::1%eth0]:80", "fe80::1"},
		{"::", "::"},
		{"1::", "1::"},
		{"::1.2.3.4", "::102:304"},
		{"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"},
		{"", ""},
		{"xxx.xxx.xxx.x", ""},
		{"10.1.2", ""},
		{"010.1.2.3", ""},
		{"256.1.2.3", ""},
		{"10.1.2.3.4", ""},
		{"10..2.3", ""},
		{"[2001:db8::1", ""},
		{"2001:db8:::1", ""},
		{"1:2:3:4:5:6:7:8:9", ""},
		{"1:2:3:4:5:6:7::8", ""},
		{"12345::", ""},
		{"localhost:80", ""},
	} {
		got := eventAddr(c.in)
		if s := got.String(); c.want == "" && got.IsValid() || c.want != "" && s != c.want {
			t.Errorf("eventAddr(%q) = %v, want %q", c.in, got, c.want)
		}
	}
}

// FuzzParseAddr holds the address readers that Match uses to what
// netip.ParseAddr accepts.
func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{"10.1.2.3", "::", "::1", "1::", "2001:db8::1", "::ffff:1.2.3.4", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:1.2.3.4", "1::2:3.4.5.6", "00001::", "1.2.3.04", ":1", "1:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.ContainsRune(s, '%') {
			return // zones are cut off before
		}
		want, err := netip.ParseAddr(s)
		var got netip.Addr
		ok := false
		if strings.ContainsRune(s, ':') {
			got, ok = parseIPv6(s)
		} else {
			var ip [4]byte
			if ok = parseIPv4(s, ip[:]); ok {
				got = netip.AddrFrom4(ip)
			}
		}
		if ok != (err == nil) || ok && got != want {
			t.Fatalf("%q: got %v, %v; netip.ParseAddr: %v, %v", s, got, ok, want, err)
		}
	})
}

func TestEventAddrDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"10.1.2.3", "xxx.xxx.xxx.x", "2001:db8::1", "2001:db8:::1", "[fe80::1%eth0]:80", "10.1.2"} {
		if n := testing.AllocsPerRun(100, func() { eventAddr(s) }); n != 0 {
			t.Errorf("eventAddr(%q) allocates %v times", s, n)
		}
	}
}
