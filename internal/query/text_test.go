package query

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestContainsText(t *testing.T) {
	for _, c := range []struct {
		json, word string
		want       bool
	}{
		{`{"email":["a@x.com","b@x.com"]}`, "b@x.com", true},
		{`{"email":["a@x.com","b@x.com"]}`, "B@X.Com", true},
		{`{"email":["a@x.com","b@x.com"]}`, "email", true}, // keys are text
		{`{"email":["a@x.com","b@x.com"]}`, `com","b`, false},
		{`{"email":["a@x.com","b@x.com"]}`, "a@x.com b@x.com", false},
		{`{"email":["a@x.com","b@x.com"]}`, "[", false}, // not the JSON text itself
		{`{"n":[-12.5e3,42]}`, "-12.5E3", true},
		{`{"n":[-12.5e3,42]}`, "42", true},
		{`{"n":[true,false,null]}`, "true", false},
		{`{"n":[true,false,null]}`, "null", false},
		{`{"s":"caf\u00e9"}`, "CAFÉ", true},
		{`{"s":"caf\u00e9"}`, `\u00e9`, false},
		{`{"s":"\u003cb\u003e"}`, "<b>", true},
		{`{"s":"\ud83d\ude00!"}`, "😀!", true},
		{`{"s":"\ud83d"}`, "\ufffd", false}, // a lone surrogate is not U+FFFD
		{`{"s":"a\"b\\c\/d\n"}`, "a\"b\\c/d\n", true},
		{`{"s":"tab\there"}`, "tab\tHERE", true},
		{`{"s":"\b\f\r"}`, "\b\f\r", true},
		{`{"s":"\x"}`, `\x`, true}, // a broken escape is a backslash
		{`{"s":"ok\u00"}`, `ok\u00`, true},
		{`{"s":"Kelvin"}`, "\u212aelvin", true}, // the Kelvin sign folds to k
		{`{"s":"\u212aelvin"}`, "kelvin", true},
		{`{"s":"ſ"}`, "S", true},
		{`{"s":"Straße"}`, "STRASSE", false}, // simple folding only
		{`{"s":"ＴＡＲＯ"}`, "ｔａｒｏ", true},
		{`{"s":"ＴＡＲＯ"}`, "taro", false},
		{`{"s":"日本語のテキスト"}`, "テキスト", true},
		{`{"s":"\u65e5\u672c"}`, "日本", true},
		{`{"s":"aaab"}`, "aab", true},
		{`{"s":"ab"}`, "abc", false},
		{`{"s":"unterminated`, "term", true},
		{``, "x", false},
		{`{}`, "x", false},
		{`{}`, "", true}, // Parse makes no empty words; a Query built by hand may
	} {
		if got := containsText([]byte(c.json), c.word); got != c.want {
			t.Errorf("containsText(%s, %q) = %v, want %v", c.json, c.word, got, c.want)
		}
	}
}

func BenchmarkContainsText(b *testing.B) {
	raw := []byte(`{"email":["alice@example.com","alice.smith@example.com"],"name":["Alice","Alice Smith"],"note":"\u65e5\u672c\u8a9e","updated_at":["2024-08-01T09:00:00Z","2024-08-02T10:00:00Z"],"count":[41,42]}`)
	b.ReportAllocs()
	for b.Loop() {
		containsText(raw, "smith@")
		containsText(raw, "nothing")
	}
}

// FuzzContainsText holds containsText to a slow reading of the same
// definition: decode the JSON, and look for the word in every key, string
// and number, folding rune by rune.
func FuzzContainsText(f *testing.F) {
	f.Add(`{"email":["a@x.com","b@x.com"]}`, "B@x.com")
	f.Add(`{"s":"caf\u00e9 \ud83d\ude00","n":[1.5e3,null,true]}`, "É 😀")
	f.Add(`{"k\"ey":{"n":-0.5}}`, "-0.")
	f.Add(`{"s":"\u212aelvin"}`, "kel")
	f.Fuzz(func(t *testing.T, raw, word string) {
		if word == "" || !json.Valid([]byte(raw)) || strings.ContainsRune(word, '\ufffd') {
			return // encoding/json reads a lone surrogate as U+FFFD
		}
		d := json.NewDecoder(strings.NewReader(raw))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return
		}
		want := false
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case string:
				want = want || containsFoldSlow(v, word)
			case json.Number:
				want = want || containsFoldSlow(string(v), word)
			case []any:
				for _, e := range v {
					walk(e)
				}
			case map[string]any:
				for k, e := range v {
					want = want || containsFoldSlow(k, word)
					walk(e)
				}
			}
		}
		walk(v)
		if got := containsText([]byte(raw), word); got != want {
			t.Fatalf("containsText(%s, %q) = %v, want %v", raw, word, got, want)
		}
	})
}

func containsFoldSlow(s, word string) bool {
	rs, n := []rune(s), len([]rune(word))
	for i := 0; i+n <= len(rs); i++ {
		if strings.EqualFold(string(rs[i:i+n]), word) {
			return true
		}
	}
	return false
}
