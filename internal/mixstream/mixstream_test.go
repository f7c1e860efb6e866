package mixstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"strings"
	"testing"
)

const runLines = 100_000

// run generates n lines from cfg and calls f with each.
func run(t testing.TB, cfg Config, n int, f func(Line)) {
	t.Helper()
	g := New(cfg)
	for range n {
		f(g.Next())
	}
}

func TestDeterministic(t *testing.T) {
	gen := func(seed int64) []byte {
		var buf bytes.Buffer
		if _, err := New(Config{Seed: seed, Huge: true}).WriteLines(&buf, 20_000); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b := gen(7), gen(7)
	if !bytes.Equal(a, b) {
		t.Fatal("two generators with seed 7 differ")
	}
	if bytes.Equal(a, gen(8)) {
		t.Fatal("seeds 7 and 8 give the same stream")
	}
}

// TestNextMatchesWriteLines checks that WriteLines writes exactly the
// lines Next returns, each with one '\n'.
func TestNextMatchesWriteLines(t *testing.T) {
	var want bytes.Buffer
	run(t, Config{Seed: 3}, 5000, func(l Line) {
		want.Write(l.Text)
		want.WriteByte('\n')
	})
	var got bytes.Buffer
	n, err := New(Config{Seed: 3}).WriteLines(&got, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if n != int64(got.Len()) || !bytes.Equal(got.Bytes(), want.Bytes()) {
		t.Fatalf("WriteLines wrote %d bytes differing from Next's %d", n, want.Len())
	}
}

type failWriter struct{ after int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, io.ErrShortWrite
	}
	w.after--
	return len(p), nil
}

func TestWriteLinesError(t *testing.T) {
	_, err := New(Config{}).WriteLines(&failWriter{after: 1}, 10_000)
	if !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("err = %v, want io.ErrShortWrite", err)
	}
}

func TestEveryKindAppears(t *testing.T) {
	for _, huge := range []bool{false, true} {
		var count [numKinds]int
		run(t, Config{Seed: 1, Huge: huge}, runLines, func(l Line) { count[l.Kind]++ })
		for k := range numKinds {
			switch {
			case k == AuditHugeChanges && !huge && count[k] != 0:
				t.Errorf("huge=false: %d AuditHugeChanges lines, want 0", count[k])
			case k == AuditHugeChanges && huge && (count[k] < 5 || count[k] > 50):
				t.Errorf("huge=true: %d AuditHugeChanges lines, want about %d", count[k], runLines/hugeEvery)
			case k != AuditHugeChanges && count[k] == 0:
				t.Errorf("huge=%v: no %v line in %d", huge, k, runLines)
			}
		}
	}
}

func TestAuditRatio(t *testing.T) {
	for _, tc := range []struct {
		ratio, want float64
		huge        bool
	}{
		{0, DefaultAuditRatio, false},
		{0, DefaultAuditRatio, true},
		{0.05, 0.05, false},
		{0.5, 0.5, true},
		{0.9, 0.9, false},
		{-1, 0, false},
		{2, 1, false},
	} {
		audit := 0
		run(t, Config{Seed: 2, AuditRatio: tc.ratio, Huge: tc.huge}, runLines, func(l Line) {
			if l.Kind.Audit() {
				audit++
			}
		})
		if got := float64(audit) / runLines; math.Abs(got-tc.want) > 0.02 {
			t.Errorf("AuditRatio %v huge %v: audit fraction %.4f, want %.2f±0.02", tc.ratio, tc.huge, got, tc.want)
		}
	}
}

func TestMeanLineLen(t *testing.T) {
	for _, tc := range []struct {
		mean, want int
		huge       bool
		lines      int
	}{
		{0, DefaultMeanLineLen, false, runLines},
		{0, DefaultMeanLineLen, true, runLines},
		{300, 300, false, runLines / 5},
		{1000, 1000, true, runLines},
		{4000, 4000, false, runLines / 10},
	} {
		var total int
		run(t, Config{Seed: 4, MeanLineLen: tc.mean, Huge: tc.huge}, tc.lines, func(l Line) { total += len(l.Text) })
		got := float64(total) / float64(tc.lines)
		if math.Abs(got-float64(tc.want)) > 0.1*float64(tc.want) {
			t.Errorf("MeanLineLen %d huge %v: mean %.1f, want %d±10%%", tc.mean, tc.huge, got, tc.want)
		}
	}
}

// TestLines checks every line's shape against its kind: no '\n', JSON
// validity, no duplicate keys, the key present and unique.
func TestLines(t *testing.T) {
	keys := make(map[string]bool)
	n := runLines
	if testing.Short() {
		n /= 5 // every kind still appears (hugeEvery is smaller); the full run checks more
	}
	for _, tc := range []struct {
		cfg   Config
		lines int
	}{
		{Config{Seed: 5, Huge: true}, n},
		{Config{Seed: 6, MeanLineLen: 2000}, n / 5},
		{Config{Seed: 7, MeanLineLen: 100}, n / 5},
	} {
		i := 0
		run(t, tc.cfg, tc.lines, func(l Line) {
			i++
			checkLine(t, l, i%8 == 0 || l.Kind == AuditHugeChanges)
			if l.Key != "" {
				if keys[l.Key] {
					t.Fatalf("key %s repeated", l.Key)
				}
				keys[l.Key] = true
			}
		})
		clear(keys) // keys are unique within one generator
	}
}

// checkLine checks l; with dups it also looks for duplicate keys, which
// is slow.
func checkLine(t *testing.T, l Line, dups bool) {
	t.Helper()
	if bytes.IndexByte(l.Text, '\n') >= 0 {
		t.Fatalf("%v line contains a newline: %q", l.Kind, l.Text)
	}
	valid := json.Valid(l.Text)
	switch l.Kind {
	case MalformedJSON, PlainText:
		if valid {
			t.Fatalf("%v line is valid JSON: %s", l.Kind, l.Text)
		}
	case JapaneseText:
		// JSON or plain text; checked below if JSON.
	default:
		if !valid {
			t.Fatalf("%v line is not valid JSON: %s", l.Kind, l.Text)
		}
	}
	if valid && dups {
		if err := checkNoDuplicateKeys(l.Text); err != nil {
			t.Fatalf("%v line: %v: %s", l.Kind, err, l.Text)
		}
	}
	if l.Kind.Audit() != (l.Key != "") {
		t.Fatalf("%v line has key %q", l.Kind, l.Key)
	}
	if l.Key != "" && bytes.Count(l.Text, []byte(l.Key)) != 1 {
		t.Fatalf("%v line does not hold its key %s exactly once: %s", l.Kind, l.Key, l.Text)
	}
	switch l.Kind {
	case KansaSDK:
		if !bytes.HasPrefix(l.Text, []byte(`{"schema":"kansa.audit/v1","id":"`+l.Key+`"`)) {
			t.Fatalf("KansaSDK line does not start with schema and id %s: %s", l.Key, l.Text)
		}
	case AuditLoggable, AuditLoggableNullUser, AuditJapanese, AuditHugeChanges:
		checkAuditLoggable(t, l)
	case RecordNotObject:
		var v struct{ Record json.RawMessage }
		if err := json.Unmarshal(l.Text, &v); err != nil || len(v.Record) == 0 || v.Record[0] == '{' {
			t.Fatalf("RecordNotObject line has record %q (err %v): %s", v.Record, err, l.Text)
		}
	case Lograge:
		if !bytes.Contains(l.Text, []byte(`"action":"`)) {
			t.Fatalf("Lograge line without action: %s", l.Text)
		}
	}
}

func checkAuditLoggable(t *testing.T, l Line) {
	t.Helper()
	var v struct {
		Timestamp string
		Record    struct {
			Auditable struct {
				ID   json.Number
				Type string
			}
			User        json.RawMessage
			Action      string
			Changes     json.RawMessage
			RequestUUID string `json:"request_uuid"`
		}
	}
	d := json.NewDecoder(bytes.NewReader(l.Text))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("%v: %v: %s", l.Kind, err, l.Text)
	}
	r := v.Record
	if r.RequestUUID != l.Key || r.Auditable.ID == "" || r.Auditable.Type == "" || !strings.HasSuffix(v.Timestamp, "+09:00") {
		t.Fatalf("%v line lacks AuditLoggable fields: %s", l.Kind, l.Text)
	}
	if (string(r.User) == "null") != (l.Kind == AuditLoggableNullUser) {
		t.Fatalf("%v line has user %s", l.Kind, r.User)
	}
	switch r.Action {
	case "create", "update", "destroy":
	default:
		t.Fatalf("%v line has action %q", l.Kind, r.Action)
	}
	changes := []byte(r.Changes)
	if changes[0] == '"' {
		var s string
		if err := json.Unmarshal(changes, &s); err != nil {
			t.Fatal(err)
		}
		changes = []byte(s)
	}
	if !json.Valid(changes) || changes[0] != '{' {
		t.Fatalf("%v line has changes that are not an object: %s", l.Kind, changes)
	}
	if l.Kind == AuditHugeChanges && len(changes) < 90_000 {
		t.Fatalf("AuditHugeChanges line has %d bytes of changes", len(changes))
	}
	if l.Kind == AuditJapanese && !hasJapanese(changes) {
		t.Fatalf("AuditJapanese line without Japanese changes: %s", changes)
	}
}

func hasJapanese(b []byte) bool {
	for _, r := range string(b) {
		if r >= 0x3040 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// checkNoDuplicateKeys walks a valid JSON value and reports an object with
// a repeated key.
func checkNoDuplicateKeys(b []byte) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var walk func() error
	walk = func() error {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return err
				}
				if seen[k.(string)] {
					return errors.New("duplicate key " + k.(string))
				}
				seen[k.(string)] = true
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		case json.Delim('['):
			for d.More() {
				if err := walk(); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		}
		return nil
	}
	return walk()
}

// TestBigNumbers checks that audit lines carry int64 numbers that float64
// cannot hold, so exact-number preservation can be tested.
func TestBigNumbers(t *testing.T) {
	big := 0
	run(t, Config{Seed: 9}, runLines, func(l Line) {
		if l.Kind.Audit() && bytes.Contains(l.Text, []byte("900720")) {
			big++
		}
	})
	if big < 1000 {
		t.Fatalf("%d audit lines with a number above 2^53, want at least 1000", big)
	}
}

// TestSeqGapFree checks that KansaSDK seq numbers count up by one per
// stream.
func TestSeqGapFree(t *testing.T) {
	last := map[string]int64{}
	run(t, Config{Seed: 10, Kinds: []Kind{KansaSDK}}, 10_000, func(l Line) {
		var v struct {
			Seq struct {
				Stream string
				N      int64
			}
		}
		if err := json.Unmarshal(l.Text, &v); err != nil {
			t.Fatal(err)
		}
		if v.Seq.N != last[v.Seq.Stream]+1 {
			t.Fatalf("stream %s: n %d after %d", v.Seq.Stream, v.Seq.N, last[v.Seq.Stream])
		}
		last[v.Seq.Stream] = v.Seq.N
	})
	if len(last) < 2 {
		t.Fatalf("%d streams, want several", len(last))
	}
}

func TestKinds(t *testing.T) {
	kinds := []Kind{AuditHugeChanges, PlainText, Kind(-1), KansaSDK, numKinds, PlainText}
	want := []Kind{AuditHugeChanges, PlainText, KansaSDK, PlainText}
	run(t, Config{Seed: 11, Kinds: kinds}, 20, func() func(Line) {
		i := 0
		return func(l Line) {
			if w := want[i%len(want)]; l.Kind != w {
				t.Fatalf("line %d: kind %v, want %v", i, l.Kind, w)
			}
			checkLine(t, l, true)
			i++
		}
	}())
}

func TestKindString(t *testing.T) {
	for k := range numKinds {
		if s := k.String(); s == "" || strings.HasPrefix(s, "Kind(") {
			t.Errorf("Kind %d has no name", int(k))
		}
	}
	if s := numKinds.String(); s != "Kind(12)" {
		t.Errorf("numKinds.String() = %q", s)
	}
}

// TestMix logs the measured kind mix; run with -v to see it.
func TestMix(t *testing.T) {
	var count [numKinds]int
	var bytesBy [numKinds]int
	run(t, Config{Seed: 1, Huge: true}, runLines, func(l Line) {
		count[l.Kind]++
		bytesBy[l.Kind] += len(l.Text)
	})
	for k := range numKinds {
		if count[k] > 0 {
			t.Logf("%-22v %6.2f%% of lines, mean %6d bytes", k, 100*float64(count[k])/runLines, bytesBy[k]/count[k])
		}
	}
}

func BenchmarkNext(b *testing.B) {
	g := New(Config{Seed: 1})
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		n += int64(len(g.Next().Text))
	}
	b.SetBytes(n / int64(b.N))
}

func BenchmarkWriteLines(b *testing.B) {
	g := New(Config{Seed: 1})
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		m, err := g.WriteLines(io.Discard, 1000)
		if err != nil {
			b.Fatal(err)
		}
		n += m
	}
	b.SetBytes(n / int64(b.N))
}
