package parquetfile

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/kansa-audit/kansa/internal/event"
)

func mustWrite(t testing.TB, events [][]byte, opts Options) ([]byte, Stats) {
	t.Helper()
	var b bytes.Buffer
	st, err := Write(&b, events, opts)
	if err != nil {
		t.Fatal(err)
	}
	if st.Bytes != int64(b.Len()) {
		t.Fatalf("Stats.Bytes %d, wrote %d", st.Bytes, b.Len())
	}
	return b.Bytes(), st
}

func open(t testing.TB, data []byte) *parquet.File {
	t.Helper()
	f, err := parquet.OpenFile(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// readRow is a row as read back, optional columns as pointers so that a
// null and an empty value differ.
type readRow struct {
	ID           string  `parquet:"id"`
	Time         int64   `parquet:"time,timestamp(microsecond:utc)"`
	TimeOffset   *string `parquet:"time_offset,optional"`
	Action       string  `parquet:"action"`
	Outcome      string  `parquet:"outcome"`
	ActorType    *string `parquet:"actor_type,optional"`
	ActorID      *string `parquet:"actor_id,optional"`
	ActorName    *string `parquet:"actor_name,optional"`
	TargetType   *string `parquet:"target_type,optional"`
	TargetID     *string `parquet:"target_id,optional"`
	TargetSchema *string `parquet:"target_schema,optional"`
	TargetTable  *string `parquet:"target_table,optional"`
	Tenant       string  `parquet:"tenant"`
	Source       string  `parquet:"source"`
	RequestID    *string `parquet:"request_id,optional"`
	IP           *string `parquet:"ip,optional"`
	UserAgent    *string `parquet:"user_agent,optional"`
	Endpoint     *string `parquet:"endpoint,optional"`
	Caller       *string `parquet:"caller,optional"`
	TraceID      *string `parquet:"trace_id,optional"`
	Host         *string `parquet:"host,optional"`
	SeqStream    *string `parquet:"seq_stream,optional"`
	SeqN         *int64  `parquet:"seq_n,optional"`
	Changes      *string `parquet:"changes,optional"`
	Meta         *string `parquet:"meta,optional"`
	Origin       *string `parquet:"origin,optional"`
	ReceivedAt   *int64  `parquet:"received_at,optional,timestamp(microsecond:utc)"`
	Original     *string `parquet:"original,optional"`
}

// readRows reads a file back with parquet-go, nulls as "" and 0.
func readRows(t testing.TB, data []byte) []rec {
	t.Helper()
	rows, err := parquet.Read[readRow](bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]rec, len(rows))
	for i, r := range rows {
		out[i] = r.rec()
	}
	return out
}

// emptyNotNull names a column of r that holds "" or 0 rather than null.
func emptyNotNull(r readRow) string {
	v := reflect.ValueOf(r)
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Kind() == reflect.Pointer && !f.IsNil() && f.Elem().IsZero() {
			return v.Type().Field(i).Name
		}
	}
	return ""
}

func (r readRow) rec() rec {
	s := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	n := func(p *int64) int64 {
		if p == nil {
			return 0
		}
		return *p
	}
	return rec{ID: r.ID, Time: r.Time, TimeOffset: s(r.TimeOffset), Action: r.Action, Outcome: r.Outcome,
		ActorType: s(r.ActorType), ActorID: s(r.ActorID), ActorName: s(r.ActorName), TargetType: s(r.TargetType),
		TargetID: s(r.TargetID), TargetSchema: s(r.TargetSchema), TargetTable: s(r.TargetTable), Tenant: r.Tenant,
		Source: r.Source, RequestID: s(r.RequestID), IP: s(r.IP), UserAgent: s(r.UserAgent), Endpoint: s(r.Endpoint),
		Caller: s(r.Caller), TraceID: s(r.TraceID), Host: s(r.Host), SeqStream: s(r.SeqStream), SeqN: n(r.SeqN),
		Changes: s(r.Changes), Meta: s(r.Meta), Origin: s(r.Origin), ReceivedAt: n(r.ReceivedAt), Original: s(r.Original)}
}

// TestMixIsRealistic checks the generator makes what the benchmarks claim.
func TestMixIsRealistic(t *testing.T) {
	m := newMix(1)
	const n = 50_000
	actions, uas, endpoints, actors, targets := map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}, map[string]bool{}
	var foreign, withChanges, big int
	minC, maxC := 1<<30, 0
	var first, last int64
	for i := range n {
		line := m.next()
		e, err := event.Decode(line)
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, line)
		}
		e.Normalize()
		if err := e.Validate(); err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, line)
		}
		if again := e.AppendJSON(nil); !bytes.Equal(again, line) {
			t.Fatalf("event %d does not re-encode to itself:\n%s\n%s", i, line, again)
		}
		actions[e.Action] = true
		uas[e.Context.UserAgent] = true
		endpoints[e.Context.Endpoint] = true
		if e.Actor != nil {
			actors[e.Actor.Type+":"+e.Actor.ID] = true
		}
		if e.Target != nil {
			targets[e.Target.Type+":"+e.Target.ID] = true
		}
		if e.Original != nil {
			foreign++
		}
		if len(e.Changes) > 0 {
			withChanges++
			minC, maxC = min(minC, len(e.Changes)), max(maxC, len(e.Changes))
			if hasBigInt(e.Changes) {
				big++
			}
		}
		if i == 0 {
			first = e.Time.UnixMicro()
		}
		last = e.Time.UnixMicro()
	}
	t.Logf("%d actions, %d user agents, %d endpoints, %d actors, %d targets, %d foreign, %d with changes (%d..%d bytes), %d with big ints, %.1f days",
		len(actions), len(uas), len(endpoints), len(actors), len(targets), foreign, withChanges, minC, maxC, big, float64(last-first)/86400e6)
	check := func(what string, got, lo, hi int) {
		if got < lo || got > hi {
			t.Errorf("%s: %d, want %d..%d", what, got, lo, hi)
		}
	}
	check("actions", len(actions), 45, 55)
	check("user agents", len(uas), 200, 400)
	check("endpoints", len(endpoints), 80, 110) // plus "" for events without one
	check("actors", len(actors), 5_000, 50_300)
	check("targets", len(targets), 10_000, n)
	check("foreign ‰", foreign*1000/n, 10, 30)
	check("shortest changes", minC, 10, 40)
	check("longest changes", maxC, 150, 260)
	check("events with a big integer in changes", big, 100, n)
	if days := float64(last-first) / 86400e6; days < 0.2 {
		t.Errorf("50k events span %.2f days", days)
	}
	if a, b := newMix(7).next(), newMix(7).next(); !bytes.Equal(a, b) {
		t.Error("same seed, different events")
	}
}

// hasBigInt reports whether raw JSON has an integer literal above 2^53.
func hasBigInt(raw []byte) bool {
	digits := 0
	for _, c := range raw {
		if c >= '0' && c <= '9' {
			digits++
			if digits >= 16 {
				return true
			}
		} else {
			digits = 0
		}
	}
	return false
}

func TestRoundTrip(t *testing.T) {
	m := newMix(2)
	events := m.batch(3 << 20)
	for _, s := range []Sort{SortActor, SortTarget, SortTime} {
		t.Run(s.String(), func(t *testing.T) {
			data, st := mustWrite(t, events, Options{Sort: s})
			if st.Rows != len(events) || st.RowGroups != 1 {
				t.Fatalf("stats %+v for %d events", st, len(events))
			}
			got := readRows(t, data)
			want := make([]rec, len(events))
			for i, l := range events {
				if err := new(filler).fill(&want[i], l); err != nil {
					t.Fatal(err)
				}
			}
			var tmin, tmax int64 = want[0].Time, want[0].Time
			for _, r := range want {
				tmin, tmax = min(tmin, r.Time), max(tmax, r.Time)
			}
			if st.TimeMin != tmin || st.TimeMax != tmax {
				t.Errorf("stats time %d..%d, want %d..%d", st.TimeMin, st.TimeMax, tmin, tmax)
			}
			// Same multiset of rows ...
			byID := map[string]rec{}
			for _, r := range want {
				byID[r.ID] = r
			}
			if len(got) != len(want) {
				t.Fatalf("%d rows, want %d", len(got), len(want))
			}
			for i, r := range got {
				if w, ok := byID[r.ID]; !ok || w != r {
					t.Fatalf("row %d:\n got %+v\nwant %+v", i, r, w)
				}
			}
			// Absent fields are nulls, never empty strings or zeros.
			raw, err := parquet.Read[readRow](bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range raw {
				if f := emptyNotNull(r); f != "" {
					t.Fatalf("row %s: %s is an empty value, not null", r.ID, f)
				}
			}
			// ... in the declared order.
			key := sortRows(got, s)
			for i, k := range key {
				if int(k) != i {
					t.Fatalf("row %d is out of %s order", i, s)
				}
			}
		})
	}
}

func TestFileMetadata(t *testing.T) {
	events := newMix(3).batch(1 << 20)
	data, _ := mustWrite(t, events, Options{})
	f := open(t, data)
	md := f.Metadata()
	if !strings.HasPrefix(md.CreatedBy, "kansa version 1") {
		t.Errorf("created_by %q", md.CreatedBy)
	}
	kv := map[string]string{}
	for _, p := range md.KeyValueMetadata {
		kv[p.Key] = p.Value
	}
	if kv["kansa.schema"] != event.Schema || kv["kansa.parquet"] != FormatVersion || kv["kansa.sort"] != "tenant,actor_type,actor_id,time" {
		t.Errorf("key-value metadata %v", kv)
	}
	cols := f.Schema().Columns()
	index := map[string]int{}
	for i, c := range cols {
		index[c[0]] = i
	}
	want := []string{"id", "time", "time_offset", "action", "outcome", "actor_type", "actor_id", "actor_name", "target_type", "target_id",
		"target_schema", "target_table", "tenant", "source", "request_id", "ip", "user_agent", "endpoint", "caller", "trace_id", "host",
		"seq_stream", "seq_n", "changes", "meta", "origin", "received_at", "original"}
	var names []string
	for _, c := range cols {
		names = append(names, c[0])
	}
	if !slices.Equal(names, want) {
		t.Errorf("columns %v\nwant %v", names, want)
	}
	for _, el := range md.Schema[1:] {
		typ := el.Type.V
		switch el.Name {
		case "time", "received_at":
			ts, ok := el.LogicalType.Value.(*format.TimestampType)
			if typ != format.Int64 || !ok || !ts.IsAdjustedToUTC {
				t.Errorf("%s: %v %v, want INT64 TIMESTAMP(MICROS, UTC)", el.Name, typ, el.LogicalType.String())
			} else if _, micros := ts.Unit.Value.(*format.MicroSeconds); !micros {
				t.Errorf("%s: unit %v, want MICROS", el.Name, ts.Unit.Value)
			}
		case "seq_n":
			if it, ok := el.LogicalType.Value.(*format.IntType); typ != format.Int64 || !ok || it.BitWidth != 64 || !it.IsSigned {
				t.Errorf("seq_n: %v %v", typ, el.LogicalType.String())
			}
		default:
			if _, ok := el.LogicalType.Value.(*format.StringType); typ != format.ByteArray || !ok {
				t.Errorf("%s: %v %v, want BYTE_ARRAY STRING", el.Name, typ, el.LogicalType.String())
			}
		}
		required := map[string]bool{"id": true, "time": true, "action": true, "outcome": true, "tenant": true, "source": true}[el.Name]
		if got := el.RepetitionType.V == format.Required; got != required {
			t.Errorf("%s: required %v, want %v", el.Name, got, required)
		}
	}
	for _, rg := range md.RowGroups {
		var sc []string
		for _, s := range rg.SortingColumns {
			if s.Descending || !s.NullsFirst {
				t.Errorf("sorting column %+v", s)
			}
			sc = append(sc, names[s.ColumnIdx])
		}
		if !slices.Equal(sc, SortActor.Columns()) {
			t.Errorf("sorting_columns %v", sc)
		}
		for _, c := range rg.Columns {
			name := c.MetaData.PathInSchema[0]
			if c.MetaData.Codec != format.Zstd {
				t.Errorf("%s: codec %v", name, c.MetaData.Codec)
			}
			if c.ColumnIndexOffset <= 0 || c.OffsetIndexOffset <= 0 {
				t.Errorf("%s: no page index", name)
			}
			hasBloom := c.MetaData.BloomFilterOffset > 0
			if wantBloom := slices.Contains(bloomColumns, name); hasBloom != wantBloom {
				t.Errorf("%s: bloom filter %v, want %v", name, hasBloom, wantBloom)
			}
			dict := slices.Contains(c.MetaData.Encoding, format.RLEDictionary)
			if wantDict := map[string]bool{"action": true, "source": true, "user_agent": true, "endpoint": true, "target_type": true}[name]; wantDict && !dict {
				t.Errorf("%s: encodings %v, want dictionary", name, c.MetaData.Encoding)
			}
		}
	}
	// The bloom filters answer for values present and mostly not for absent.
	rgs := f.RowGroups()
	for _, name := range bloomColumns {
		col := rgs[0].ColumnChunks()[index[name]]
		bf := col.BloomFilter()
		if bf == nil {
			t.Fatalf("%s: no bloom filter", name)
		}
		rows := readRows(t, data)
		for _, r := range rows[:200] {
			v := map[string]string{"actor_id": r.ActorID, "target_id": r.TargetID, "request_id": r.RequestID}[name]
			if v == "" {
				continue
			}
			if ok, err := bf.Check(parquet.ByteArrayValue([]byte(v))); err != nil || !ok {
				t.Fatalf("%s: bloom filter misses %q (%v)", name, v, err)
			}
		}
		fp := 0
		for i := range 2000 {
			if ok, _ := bf.Check(parquet.ByteArrayValue([]byte("absent-" + string(rune('a'+i%26)) + string(rune(i))))); ok {
				fp++
			}
		}
		if fp > 100 { // ≈1% expected
			t.Errorf("%s: %d/2000 false positives", name, fp)
		}
	}
}

func TestDeterministic(t *testing.T) {
	events := newMix(4).batch(2 << 20)
	a, _ := mustWrite(t, events, Options{})
	shuffled := slices.Clone(events)
	slices.Reverse(shuffled)
	b, _ := mustWrite(t, events, Options{})
	c, _ := mustWrite(t, shuffled, Options{})
	if !bytes.Equal(a, b) {
		t.Fatal("same events, different bytes")
	}
	if !bytes.Equal(a, c) { // ids are unique, so the sort fixes every row's place
		t.Fatal("same events in another order, different bytes")
	}
}

func TestRowGroups(t *testing.T) {
	events := newMix(5).batch(2 << 20)
	n := len(events)
	for _, tc := range []struct {
		opts Options
		want int
	}{
		{Options{RowGroupRows: 1000}, (n + 999) / 1000},
		{Options{RowGroupBytes: 256 << 10}, 0}, // several; counted below
		{Options{}, 1},
	} {
		data, st := mustWrite(t, events, tc.opts)
		f := open(t, data)
		if len(f.RowGroups()) != st.RowGroups {
			t.Errorf("%+v: file has %d row groups, stats say %d", tc.opts, len(f.RowGroups()), st.RowGroups)
		}
		if tc.want > 0 && st.RowGroups != tc.want {
			t.Errorf("%+v: %d row groups, want %d", tc.opts, st.RowGroups, tc.want)
		}
		if tc.want == 0 && st.RowGroups < 4 {
			t.Errorf("%+v: %d row groups for %d events", tc.opts, st.RowGroups, n)
		}
		total := int64(0)
		for _, rg := range f.RowGroups() {
			total += rg.NumRows()
			if tc.opts.RowGroupRows > 0 && rg.NumRows() > int64(tc.opts.RowGroupRows) {
				t.Errorf("row group of %d rows", rg.NumRows())
			}
		}
		if total != int64(n) {
			t.Errorf("%d rows, want %d", total, n)
		}
		if got := readRows(t, data); len(got) != n || slices.IndexFunc(got, func(r rec) bool { return r.ID == "" }) >= 0 {
			t.Errorf("read back %d rows", len(got))
		}
	}
}

func TestEdgeCases(t *testing.T) {
	// An event with only the required fields, one with every optional
	// field, a heartbeat, and a target without an id.
	lines := []string{
		`{"schema":"kansa.audit/v1","id":"a","time":"2024-08-06T09:00:59.981000Z","action":"user.login","source":"s","tenant":"default","outcome":"success"}`,
		`{"schema":"kansa.audit/v1","id":"b","time":"2024-08-06T09:00:59.981000Z","time_offset":"-03:30","action":"update","actor":{"type":"User","id":"9007199254740993","name":"Åsa \"Q\""},"target":{"type":"AWS::S3::Bucket","id":"arn:aws:s3:::logs","schema":"public","table":"t"},"changes":{"n":[9007199254740993,18446744073709551615],"s":"\u00e9\n"},"context":{"host":"h","ip":"::1","user_agent":"ua","request_id":"r","endpoint":"GET /","caller":"c","trace_id":"t"},"source":"s","tenant":"acme","outcome":"failure","seq":{"stream":"st","n":9223372036854775807},"origin":{"file":"f","offset":1},"received_at":"2024-08-06T09:01:00.000001Z","meta":{"error":"denied"},"original":"line\u0000with nul"}`,
		`{"schema":"kansa.audit/v1","id":"c","time":"0001-01-01T00:00:00.000001Z","action":"kansa.heartbeat","source":"s","tenant":"default","outcome":"success","seq":{"stream":"st","n":7}}`,
		`{"schema":"kansa.audit/v1","id":"d","time":"9999-12-31T23:59:59.999999Z","action":"update","target":{"type":"Order"},"meta":{"where":"status = 'x'"},"source":"s","tenant":"default","outcome":"success"}`,
	}
	var events [][]byte
	for _, l := range lines {
		events = append(events, []byte(l))
	}
	data, st := mustWrite(t, events, Options{})
	if st.TimeMin != -62135596799999999 || st.TimeMax != 253402300799999999 {
		t.Errorf("time range %d..%d", st.TimeMin, st.TimeMax)
	}
	got := readRows(t, data)
	byID := map[string]rec{}
	for _, r := range got {
		byID[r.ID] = r
	}
	b := byID["b"]
	if b.TimeOffset != "-03:30" || b.ActorName != `Åsa "Q"` || b.TargetID != "arn:aws:s3:::logs" || b.SeqN != 9223372036854775807 ||
		b.Changes != `{"n":[9007199254740993,18446744073709551615],"s":"\u00e9\n"}` || b.Original != "line\x00with nul" ||
		b.ReceivedAt != 1722934860000001 || b.Outcome != "failure" || b.Caller != "c" {
		t.Errorf("full event read back as %+v", b)
	}
	if a := byID["a"]; a != (rec{ID: "a", Time: 1722934859981000, Action: "user.login", Source: "s", Tenant: "default", Outcome: "success"}) {
		t.Errorf("minimal event read back as %+v", a)
	}
	if d := byID["d"]; d.TargetType != "Order" || d.TargetID != "" {
		t.Errorf("target without id read back as %+v", d)
	}

	// Nothing to write is a valid, empty file.
	data, st = mustWrite(t, nil, Options{})
	if st.Rows != 0 || st.RowGroups != 0 || len(readRows(t, data)) != 0 {
		t.Errorf("empty: %+v", st)
	}
}

func TestErrors(t *testing.T) {
	ok := []byte(`{"schema":"kansa.audit/v1","id":"a","time":"2024-08-06T09:00:59.981000Z","action":"x","source":"s","tenant":"default","outcome":"success"}`)
	for _, tc := range []struct {
		line []byte
		want string
	}{
		{[]byte(`{"schema":"kansa.audit/v1","time":"yesterday"}`), `parquet: event 1: field "time"`},
		{[]byte(`not json`), "parquet: event 1:"},
		{[]byte(`{"schema":"kansa.audit/v1","id":"a","time":"2024-08-06T09:00:59Z","action":"x","source":"s","tenant":"t","seq":{"stream":"s","n":9223372036854775808}}`), "does not fit"},
	} {
		var b bytes.Buffer
		_, err := Write(&b, [][]byte{ok, tc.line}, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.line, err, tc.want)
		}
	}
	if _, err := Write(io.Discard, [][]byte{ok}, Options{Sort: 9}); err == nil {
		t.Error("unknown sort accepted")
	}
	boom := errors.New("disk full")
	if _, err := Write(failWriter{boom}, [][]byte{ok}, Options{}); !errors.Is(err, boom) {
		t.Errorf("write error %v, want %v", err, boom)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestColumns(t *testing.T) {
	var got []string
	for _, c := range Columns() {
		typ := map[string]string{"time": "timestamp", "received_at": "timestamp", "seq_n": "int64"}[c.Name]
		if typ == "" {
			typ = "string"
		}
		required := map[string]bool{"id": true, "time": true, "action": true, "outcome": true, "tenant": true, "source": true}[c.Name]
		if c.Type != typ || c.Optional == required {
			t.Errorf("%+v: want type %s, optional %v", c, typ, !required)
		}
		got = append(got, c.Name)
	}
	if len(got) != 28 || got[0] != "id" || got[27] != "original" {
		t.Errorf("columns %v", got)
	}
}

// TestConcurrentWrites runs Write from several goroutines, as an archive
// writer spreading a batch's partitions over cores would (run with -race).
func TestConcurrentWrites(t *testing.T) {
	events := newMix(6).batch(512 << 10)
	want, _ := mustWrite(t, events, Options{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var b bytes.Buffer
			_, err := Write(&b, events, Options{})
			if err == nil && !bytes.Equal(b.Bytes(), want) {
				err = errors.New("concurrent write gave different bytes")
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestSortRowsMatchesReference: the integer shortcuts of sortRows give the
// order of comparing the key's strings, for ids that share 8-byte
// prefixes, differ in length, contain zero bytes or are absent.
func TestSortRowsMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	pick := func(vals ...string) string { return vals[rng.IntN(len(vals))] }
	rows := make([]rec, 5000)
	for i := range rows {
		rows[i] = rec{
			ID:         fmt.Sprintf("%08x", rng.Uint32()%4000),
			Time:       int64(rng.IntN(50)),
			Tenant:     pick("acme", "beta", "acme2"),
			ActorType:  pick("", "User", "Service"),
			ActorID:    pick("", "12345678", "123456789", "1234567", "12345678\x00", "usr_00000001", "usr_00000002", "usr_0000000", "9", "10"),
			TargetType: pick("Order", "User", ""),
			TargetID:   pick("", "17", "170", "orders/1234567890", "orders/1234567891", "orders/12345678"),
		}
	}
	for _, s := range []Sort{SortActor, SortTarget, SortTime} {
		want := make([]int32, len(rows))
		for i := range want {
			want[i] = int32(i)
		}
		slices.SortFunc(want, func(i, j int32) int {
			a, b := &rows[i], &rows[j]
			var c int
			switch s {
			case SortActor:
				c = cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.ActorType, b.ActorType), strings.Compare(a.ActorID, b.ActorID))
			case SortTarget:
				c = cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.TargetType, b.TargetType), strings.Compare(a.TargetID, b.TargetID))
			}
			return cmp.Or(c, cmp.Compare(a.Time, b.Time), strings.Compare(a.ID, b.ID), cmp.Compare(i, j))
		})
		if got := sortRows(rows, s); !slices.Equal(got, want) {
			t.Errorf("%s: sortRows differs from comparing the key's strings", s)
		}
	}
}
