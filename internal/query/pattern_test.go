package query

import "testing"

func TestPatternMatch(t *testing.T) {
	for _, c := range []struct {
		parts []string
		s     subject
		want  bool
	}{
		{[]string{"update"}, subject{a: "update"}, true},
		{[]string{"update"}, subject{a: "updated"}, false},
		{[]string{"", ".view"}, subject{a: "order.view"}, true},
		{[]string{"", ".view"}, subject{a: ".view"}, true},
		{[]string{"", ".view"}, subject{a: "view"}, false},
		{[]string{"user.", ""}, subject{a: "user.login"}, true},
		{[]string{"", ""}, subject{a: ""}, true},
		{[]string{"a", "b", "c"}, subject{a: "abc"}, true},
		{[]string{"a", "b", "c"}, subject{a: "axxbyyc"}, true},
		{[]string{"a", "b", "c"}, subject{a: "acb"}, false},
		{[]string{"ab", "ba"}, subject{a: "aba"}, false}, // the parts may not overlap
		{[]string{"ab", "ba"}, subject{a: "abba"}, true},
		{[]string{"a", "a", "a"}, subject{a: "aa"}, false},
		{[]string{"", "a", "a", ""}, subject{a: "xaxax"}, true},
		// Records are matched as TYPE:ID.
		{[]string{"Order:", ""}, subject{a: "Order", b: "17", ref: true}, true},
		{[]string{"Order:", ""}, subject{a: "OrderLine", b: "17", ref: true}, false},
		{[]string{"Order:17"}, subject{a: "Order", b: "17", ref: true}, true},
		{[]string{"Order:17"}, subject{a: "Order:1", b: "7", ref: true}, false},
		{[]string{"Order:1"}, subject{a: "Order", b: "17", ref: true}, false},
		{[]string{"", ":17"}, subject{a: "Admin::Setting", b: "17", ref: true}, true},
		{[]string{"Admin::", ""}, subject{a: "Admin::Setting", b: "17", ref: true}, true},
		{[]string{"Admin::", ""}, subject{a: "Admin", b: "17", ref: true}, false},
		{[]string{"", "r:1", ""}, subject{a: "User", b: "1", ref: true}, true}, // across the colon
		{[]string{"AWS::S3::Bucket:arn:aws:s3:::", ""}, subject{a: "AWS::S3::Bucket", b: "arn:aws:s3:::logs", ref: true}, true},
		{[]string{"", ""}, subject{a: "T", b: "", ref: true}, true},
		{nil, subject{a: "x"}, false},
	} {
		p := Pattern{Parts: c.parts}
		if got := p.match(c.s); got != c.want {
			t.Errorf("%q matching %+v = %v, want %v", c.parts, c.s, got, c.want)
		}
	}
}
