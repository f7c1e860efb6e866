package rawjson

import (
	"encoding/json"
	"errors"
	"testing"
	"unicode/utf8"
)

func TestFields(t *testing.T) {
	in := []byte(` {"a":1, "b" : {"c":[1,2,{"d":null}]}, "e":"x\"y", "big":9007199254740993, "k\u0065y":true} `)
	fs, err := Fields(nil, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ k, v string }{{"a", "1"}, {"b", `{"c":[1,2,{"d":null}]}`}, {"e", `"x\"y"`}, {"big", "9007199254740993"}, {`k\u0065y`, "true"}}
	if len(fs) != len(want) {
		t.Fatalf("got %d fields, want %d", len(fs), len(want))
	}
	for i, w := range want {
		if string(fs[i].Key) != w.k || string(fs[i].Value) != w.v {
			t.Errorf("field %d = %s:%s, want %s:%s", i, fs[i].Key, fs[i].Value, w.k, w.v)
		}
	}
	if v, ok := Lookup(fs, "key"); !ok || string(v) != "true" {
		t.Errorf("Lookup of escaped key = %q, %v", v, ok)
	}
	if v, ok := Get(fs[1].Value, "c"); !ok || KindOf(v) != Array {
		t.Errorf("Get c = %q, %v", v, ok)
	}
}

func TestFieldsErrors(t *testing.T) {
	for _, in := range []string{``, `   `, `{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1} x`, `{'a':1}`, `{"a":01}`, `{"a":"\x"}`, "{\"a\":\"\x01\"}", `{"a":tru}`, `{"a":[1,]}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`} {
		if _, err := Fields(nil, []byte(in)); err == nil || errors.Is(err, ErrNotObject) {
			t.Errorf("Fields(%q) = %v, want syntax error", in, err)
		}
	}
	for _, in := range []string{`[1]`, `"s"`, `12`, `null`} {
		if _, err := Fields(nil, []byte(in)); !errors.Is(err, ErrNotObject) {
			t.Errorf("Fields(%q) = %v, want ErrNotObject", in, err)
		}
	}
}

func TestUnquoteAndQuote(t *testing.T) {
	for _, s := range []string{"", "plain", "名前 東京都渋谷区", "tab\tnl\nq\"bs\\", "\x00\x1f", "emoji 😀", "\u2028"} {
		q := AppendQuote(nil, s)
		var viaStd string
		if err := json.Unmarshal(q, &viaStd); err != nil || viaStd != s {
			t.Errorf("AppendQuote(%q) = %s, std decodes to %q (%v)", s, q, viaStd, err)
		}
		u, err := Unquote(nil, q)
		if err != nil || string(u) != s {
			t.Errorf("Unquote(%s) = %q, %v", q, u, err)
		}
	}
	if got := string(AppendQuote(nil, "a\xffb")); got != "\"a\uFFFDb\"" {
		t.Errorf("invalid UTF-8 quoted as %s", got)
	}
	u, _ := Unquote(nil, []byte(`"\ud83d\ude00 \u00e9"`))
	if string(u) != "😀 é" {
		t.Errorf("surrogate pair decoded as %q", u)
	}
}

func TestElements(t *testing.T) {
	var got []string
	err := Elements([]byte(`[ {"a":1} , 2,"x" ]`), func(i int, v []byte) error {
		got = append(got, string(v))
		return nil
	})
	if err != nil || len(got) != 3 || got[0] != `{"a":1}` || got[2] != `"x"` {
		t.Fatalf("Elements = %q, %v", got, err)
	}
}

func FuzzFields(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"record":{"user":null}}`, `[1,2]`, `{"a":"\u00e9"}`, `{"a":1e5,"b":[{}]}`, `nope`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		std := json.Valid(data)
		if Valid(data) != std {
			t.Fatalf("Valid(%q) = %v, encoding/json says %v", data, !std, std)
		}
		fs, err := Fields(nil, data)
		if err != nil {
			return
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("Fields accepted %q but encoding/json rejects: %v", data, err)
		}
		for _, fl := range fs {
			k, err := Unquote(nil, fl.Key)
			if err != nil {
				t.Fatalf("key %q: %v", fl.Key, err)
			}
			if _, ok := m[string(k)]; !ok && !fl.KeyEscaped && utf8.Valid(k) {
				t.Fatalf("key %q missing in std decode", k)
			}
			if !json.Valid(fl.Value) {
				t.Fatalf("value %q not valid JSON", fl.Value)
			}
		}
	})
}

func FuzzQuote(f *testing.F) {
	f.Add("abc")
	f.Add("名前\n\"")
	f.Fuzz(func(t *testing.T, s string) {
		q := AppendQuote(nil, s)
		if !json.Valid(q) {
			t.Fatalf("AppendQuote(%q) = %s is not valid JSON", s, q)
		}
		u, err := Unquote(nil, q)
		if err != nil {
			t.Fatal(err)
		}
		var std string
		if err := json.Unmarshal(q, &std); err != nil || std != string(u) {
			t.Fatalf("Unquote = %q, std %q", u, std)
		}
	})
}

func BenchmarkFields(b *testing.B) {
	line := []byte(`{"timestamp":"2024-08-06T18:00:59.981+09:00","record":{"auditable":{"id":1,"type":"ModelType"},"user":{"id":1,"type":"Admin::Account"},"action":"update","changes":"{\"name\":[\"xxx\",\"yyy\"]}","remote_address":"203.0.113.7","request_uuid":"0d3c6a7e-6b1f-4c2a-9a55-5d1d3f0c9b11"},"padding":"GET /orders/17 HTTP/1.1 Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 and more padding to reach a realistic length of a line"}`)
	var buf []Field
	b.SetBytes(int64(len(line)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = Fields(buf[:0], line)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func TestSWARAgainstLoop(t *testing.T) {
	for n := 0; n < 40; n++ {
		for pos := 0; pos <= n; pos++ {
			for _, c := range []byte{'"', '\\', 0x00, 0x1f, 0x80, 0xff, 0x7f, ' '} {
				b := make([]byte, n)
				for i := range b {
					b[i] = 'a' + byte(i%26)
				}
				if pos < n {
					b[pos] = c
				}
				wantS, wantQ := n, n
				for i, x := range b {
					if x < 0x20 || x == '"' || x == '\\' {
						wantS = min(wantS, i)
					}
					if x < 0x20 || x == '"' || x == '\\' || x >= 0x80 {
						wantQ = min(wantQ, i)
					}
				}
				if got := stringSpecial(b); got != wantS {
					t.Fatalf("stringSpecial(%q) = %d, want %d", b, got, wantS)
				}
				if got := quoteSafe(b); got != wantQ {
					t.Fatalf("quoteSafe(%q) = %d, want %d", b, got, wantQ)
				}
			}
		}
	}
}

func TestAppendOneLine(t *testing.T) {
	for in, want := range map[string]string{
		`{"a":1}`: `{"a":1}`,
		"{\r\n  \"a\": [1,\n 2],\n\"b\":\"x\\ny\"\r\n}": `{  "a": [1, 2],"b":"x\ny"}`,
		"": "",
	} {
		if got := string(AppendOneLine([]byte("p"), []byte(in))); got != "p"+want {
			t.Errorf("AppendOneLine(%q) = %q, want %q", in, got, "p"+want)
		}
	}
}

// FuzzFieldsDeep: FieldsDeep gives what Fields gives, and after each
// member it reads deeply, what ObjectFields gives of its value; it fails
// exactly where Fields fails.
func FuzzFieldsDeep(f *testing.F) {
	for _, s := range []string{`{"a":{"b":1,"c":"x"},"d":{"e":{}}}`, `{"a":{}}`, `{"a":[1],"d":{"x":[{"y":2}]}}`, `{"\u0061":{"b":1}}`, `{"a":{"b":}}`, `{"a":{"b":1}`, `{"a":{"b":1}} x`, ` {"d" : { "k" : "v" } } `} {
		f.Add([]byte(s))
	}
	deep := func(k []byte) bool { return len(k) == 1 && (k[0] == 'a' || k[0] == 'd') }
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := Fields(nil, data)
		got, gerr := FieldsDeep(nil, data, deep)
		if (werr != nil) != (gerr != nil) {
			t.Fatalf("%q: Fields %v, FieldsDeep %v", data, werr, gerr)
		}
		if werr != nil {
			return
		}
		var flat []Field
		for _, w := range want {
			w2 := w
			kids, err := []Field(nil), error(nil)
			if KindOf(w.Value) == Object && !w.KeyEscaped && deep(w.Key) {
				w2.Deep = true
				if kids, err = ObjectFields(nil, w.Value); err != nil {
					t.Fatalf("%q: ObjectFields of %q: %v", data, w.Value, err)
				}
			}
			flat = append(flat, w2)
			for _, k := range kids {
				k.Nested = true
				flat = append(flat, k)
			}
		}
		if len(flat) != len(got) {
			t.Fatalf("%q: FieldsDeep gave %d fields, want %d", data, len(got), len(flat))
		}
		for i := range got {
			g, w := got[i], flat[i]
			if string(g.Key) != string(w.Key) || string(g.Value) != string(w.Value) || g.KeyEscaped != w.KeyEscaped || g.Deep != w.Deep || g.Nested != w.Nested {
				t.Fatalf("%q: field %d is %+v, want %+v", data, i, g, w)
			}
		}
	})
}
