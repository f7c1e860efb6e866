package gormaudit

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

type Bytes []byte

type Flag bool

// Kinds has a column of each kind eqOf and boxFunc know, and a few they
// leave to sameRV and ownValue.
type Kinds struct {
	ID      int64
	I       int
	I8      int8
	I16     int16
	I32     int32
	U       uint
	U8      uint8
	U16     uint16
	U32     uint32
	U64     uint64
	F32     float32
	F64     float64
	S       string
	K       Kind
	B       bool
	Fl      Flag
	T       time.Time
	PT      *time.Time
	PS      *string
	PI      *int64
	PK      *Kind
	Raw     []byte
	Named   Bytes
	JSON    json.RawMessage
	NS      sql.NullString
	NI      sql.NullInt64
	NI32    sql.NullInt32
	NI16    sql.NullInt16
	NB      sql.NullByte
	NF      sql.NullFloat64
	NBool   sql.NullBool
	NT      sql.NullTime
	Del     gorm.DeletedAt
	PNI     *sql.NullInt64
	PNS     *sql.NullString
	Arr     [3]byte
	Strs    []string           `gorm:"serializer:json"`
	Attrs   map[string]any     `gorm:"serializer:json"`
	Point   struct{ X, Y int } `gorm:"serializer:json"`
	Ignored string             `audit:"-"`
	Hidden  string             `audit:"redacted"`
}

func kindsModel(t testing.TB) *model {
	t.Helper()
	log, err := audit.New(audit.Config{Output: &captured{}, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = log.Close(context.Background()) })
	p, err := New(log, Config{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := schema.Parse(&Kinds{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	return p.newModel(s)
}

// samples returns values of Kinds that differ in every column from one to
// the next, and values equal in SQL but not in Go (a time in two zones).
func samples() []Kinds {
	at := time.Date(2024, 8, 6, 18, 0, 59, 981000000, time.UTC)
	jst := at.In(time.FixedZone("JST", 9*3600))
	s1, s2, k1 := "a", "b", Kind("k")
	i1, i2 := int64(1), int64(2)
	var out []Kinds
	out = append(out, Kinds{}) // zero
	out = append(out, Kinds{ID: 1, I: 1, I8: -1, I16: 300, I32: -70000, U: 1, U8: 255, U16: 65535, U32: 1 << 31, U64: math.MaxUint64,
		F32: 0.1, F64: 0.1, S: "a", K: "k", B: true, Fl: true, T: at, PT: &at, PS: &s1, PI: &i1, PK: &k1,
		Raw: []byte("ab"), Named: Bytes("ab"), JSON: json.RawMessage(`{"a":1}`),
		NS: sql.NullString{String: "a", Valid: true}, NI: sql.NullInt64{Int64: 7, Valid: true}, NI32: sql.NullInt32{Int32: 7, Valid: true},
		NI16: sql.NullInt16{Int16: 7, Valid: true}, NB: sql.NullByte{Byte: 7, Valid: true}, NF: sql.NullFloat64{Float64: 7.5, Valid: true},
		NBool: sql.NullBool{Bool: true, Valid: true}, NT: sql.NullTime{Time: at, Valid: true}, Del: gorm.DeletedAt{Time: at, Valid: true},
		PNI: &sql.NullInt64{Int64: 1, Valid: true}, PNS: &sql.NullString{}, Arr: [3]byte{1, 2, 3},
		Strs: []string{"x"}, Attrs: map[string]any{"k": "v"}, Point: struct{ X, Y int }{1, 2}, Ignored: "i", Hidden: "h"})
	out = append(out, Kinds{ID: 2, I: 2, I8: 1, I16: -300, I32: 70000, U: 2, U8: 1, U16: 1, U32: 1, U64: 1,
		F32: float32(math.NaN()), F64: math.NaN(), S: "b", K: "l", B: false, Fl: false, T: jst, PT: &jst, PS: &s2, PI: &i2,
		Raw: []byte{}, Named: nil, JSON: json.RawMessage(`{"a": 1}`),
		NS: sql.NullString{String: "a"}, NI: sql.NullInt64{Int64: 7}, NI32: sql.NullInt32{Int32: 8, Valid: true},
		NI16: sql.NullInt16{}, NB: sql.NullByte{Byte: 8, Valid: true}, NF: sql.NullFloat64{Float64: 7.5},
		NBool: sql.NullBool{Bool: false, Valid: true}, NT: sql.NullTime{Time: jst, Valid: true}, Del: gorm.DeletedAt{Time: jst},
		PNI: &sql.NullInt64{}, PNS: &sql.NullString{String: "z", Valid: true}, Arr: [3]byte{1, 2, 4},
		Strs: []string{}, Attrs: map[string]any{}, Point: struct{ X, Y int }{2, 1}, Hidden: "j"})
	// the same values, as other objects
	s1b, i1b, atb := "a", int64(1), at
	c := out[1]
	c.PS, c.PI, c.PT, c.Raw, c.Named = &s1b, &i1b, &atb, []byte("ab"), Bytes("ab")
	c.PNI, c.PNS = &sql.NullInt64{Int64: 1, Valid: true}, nil
	out = append(out, c)
	return out
}

// TestEqMatchesSameRV checks that the comparisons without boxing say what
// sameRV says, for every pair of samples and every column.
func TestEqMatchesSameRV(t *testing.T) {
	m := kindsModel(t)
	ss := samples()
	fast := 0
	for ci := range m.all {
		c := &m.all[ci]
		if c.eq == nil {
			continue
		}
		fast++
		for i := range ss {
			for j := range ss {
				a, b := reflect.ValueOf(&ss[i]).Elem(), reflect.ValueOf(&ss[j]).Elem()
				want := sameRV(c.f.ReflectValueOf(context.Background(), a), c.f.ReflectValueOf(context.Background(), b))
				got := c.eq(unsafe.Add(a.Addr().UnsafePointer(), c.off), unsafe.Add(b.Addr().UnsafePointer(), c.off))
				if got != want {
					t.Errorf("%s: samples %d and %d: eq %v, sameRV %v", c.name, i, j, got, want)
				}
			}
		}
	}
	t.Logf("%d columns compared without boxing, %d with sameRV", fast, len(m.all)-fast)
	if slow := len(m.all) - fast; fast < 30 || slow > 6 {
		t.Errorf("%d columns compared without boxing, %d with sameRV", fast, slow)
	}
	if m.byName["attrs"].lazy {
		t.Errorf("attrs is lazy: a snapshot does not own the values in its map")
	}
	if !m.byName["point"].lazy || !m.byName["strs"].lazy {
		t.Errorf("a struct of ints, a []string not lazy")
	}
	if m.lazy {
		t.Error("model lazy with a map[string]any column")
	}
}

// changesJSON returns the "changes" object the Logger writes for ev.
func changesJSON(t *testing.T, ev audit.Event) string {
	t.Helper()
	out := &captured{}
	log, err := audit.New(audit.Config{Output: out, HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ev.Action = audit.ActionUpdate
	log.Record(context.Background(), ev)
	if err := log.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var line struct{ Changes json.RawMessage }
	if err := json.Unmarshal(out.lines[0], &line); err != nil {
		t.Fatal(err)
	}
	return string(line.Changes)
}

// withoutNaN returns k with its floats as bits, for reflect.DeepEqual.
func withoutNaN(k Kinds) [3]any {
	f32, f64 := math.Float32bits(k.F32), math.Float64bits(k.F64)
	k.F32, k.F64 = 0, 0
	return [3]any{k, f32, f64}
}

// TestChangeSetMatchesEager checks that a changeSet yields what the
// changes boxed on the request path hold: updates (every column set),
// creates and deletes.
func TestChangeSetMatchesEager(t *testing.T) {
	m := kindsModel(t)
	ctx := context.Background()
	ss := samples()
	var set clause.Set
	for _, c := range m.all {
		set = append(set, clause.Assignment{Column: clause.Column{Name: c.name}, Value: 0})
	}
	for i := range ss {
		for j := range ss {
			old := m.copyOf(ctx, reflect.ValueOf(&ss[i]).Elem())
			e := reflect.ValueOf(&ss[j]).Elem()
			want, _ := m.updateChanges(ctx, set, e, old)
			cs, snap, ok := m.update(ctx, set, e, old)
			if !ok {
				t.Fatal("update: not ok")
			}
			if (cs == nil) != (len(want) == 0) {
				t.Fatalf("samples %d → %d: changeSet %v, changes %v", i, j, cs, want)
			}
			if cs != nil {
				if got, w := changesJSON(t, audit.Event{ChangeSet: cs}), changesJSON(t, audit.Event{Changes: want}); got != w {
					t.Errorf("samples %d → %d:\n got %s\nwant %s", i, j, got, w)
				}
			}
			if got, want := withoutNaN(snap.Interface().(Kinds)), withoutNaN(m.applied(ctx, old, set, e).Interface().(Kinds)); !reflect.DeepEqual(got, want) {
				t.Errorf("samples %d → %d: new snapshot\n %+v\nwant %+v", i, j, got, want)
			}
		}
	}

	// creates and deletes of a model whose columns are all lazy
	type Row struct {
		ID   int64
		F32  float32
		S    string
		PS   *string
		T    time.Time
		PT   *time.Time
		NI   sql.NullInt64
		Raw  []byte
		Strs []string `gorm:"serializer:json"`
		Pw   string   `audit:"redacted"`
	}
	s, err := schema.Parse(&Row{}, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		t.Fatal(err)
	}
	rm := (&Plugin{}).newModel(s)
	if !rm.lazy {
		t.Fatal("Row is not lazy")
	}
	str, at := "s", time.Now()
	for _, r := range []Row{{}, {ID: 1, F32: 0.1, S: "a", PS: &str, T: at, PT: &at, NI: sql.NullInt64{Int64: 1, Valid: true}, Raw: []byte("x"), Strs: []string{"y"}, Pw: "p"}} {
		snap := rm.copyOf(ctx, reflect.ValueOf(&r).Elem())
		for _, op := range []changeOp{opCreate, opDelete} {
			cs := rm.rowChangeSet(op, snap)
			if cs == nil {
				t.Fatal("no changeSet")
			}
			got, want := changesJSON(t, audit.Event{ChangeSet: cs}), changesJSON(t, audit.Event{Changes: rm.values(ctx, snap)})
			if got != want {
				t.Errorf("op %d:\n got %s\nwant %s", op, got, want)
			}
		}
	}
}

// gate is an Output whose first Write waits for open: the events recorded
// meanwhile wait, unencoded, in the Logger's queue.
type gate struct {
	captured
	held, open chan struct{}
	once       sync.Once
}

func (g *gate) Write(line []byte) error {
	g.once.Do(func() {
		close(g.held)
		<-g.open
	})
	return g.captured.Write(line)
}

// TestChangeSetReadsSnapshots changes a model, in place too, after its
// update and before the Logger encodes the update's event: the event has
// the values saved (and, with -race, no race with the application).
func TestChangeSetReadsSnapshots(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{}, nil)
			g := &gate{held: make(chan struct{}), open: make(chan struct{})}
			log, err := audit.New(audit.Config{Output: g, HeartbeatInterval: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer log.Close(context.Background())
			e.plugin.log = log
			if err := e.db.AutoMigrate(&Order{}, &Doc{}); err != nil {
				t.Fatal(err)
			}
			log.Record(context.Background(), audit.Event{Action: "test.hold"}) // holds the Logger
			<-g.held
			e.must(e.db.Create(&Order{ID: 1, Status: "new", Note: strptr("a")}))
			var o Order
			e.must(e.db.First(&o, 1))
			o.Status, o.Note = "paid", strptr("b")
			e.must(e.db.Save(&o))
			d := Doc{ID: 1, Data: []byte("ab"), Name: sql.NullString{String: "n", Valid: true}}
			e.must(e.db.Create(&d))
			d.Data[0], d.Name.String = 'z', "m"
			e.must(e.db.Save(&d))
			e.must(e.db.Delete(&o))
			// the application goes on with its models
			o.Status, *o.Note = "changed", "changed"
			d.Data[1], d.Name.String = 'y', "changed"
			close(g.open)
			if err := log.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range g.lines[1:] {
				var ev struct {
					Action  string
					Changes json.RawMessage
				}
				if err := json.Unmarshal(l, &ev); err != nil {
					t.Fatal(err)
				}
				if ev.Action != audit.ActionHeartbeat {
					got = append(got, ev.Action+" "+string(ev.Changes))
				}
			}
			want := []string{
				`create {"id":1,"customer":"","status":"new","total":0,"note":"a","secret":"[REDACTED]","created_at":`,
				`update {"status":["new","paid"],"note":["a","b"]}`,
				`create {"id":1,"data":"YWI=",`,
				`update {"data":["YWI=","emI="],"name":["n","m"]}`,
				`delete {"id":1,"customer":"","status":"paid","total":0,"note":"b","secret":"[REDACTED]","created_at":`,
			}
			if len(got) != len(want) {
				t.Fatalf("events:\n%s", join(got))
			}
			for i := range want {
				if !bytes.HasPrefix([]byte(got[i]), []byte(want[i])) {
					t.Errorf("event %d:\n got %s\nwant %s…", i, got[i], want[i])
				}
			}
		})
	}
}

// TestSnapshotSlots checks that a snapshot holds the values of its
// pointer columns itself, and that a new one does not point into the old.
func TestSnapshotSlots(t *testing.T) {
	m := kindsModel(t)
	ctx := context.Background()
	s, at := "a", time.Now()
	k := Kinds{PS: &s, PT: &at, PNI: &sql.NullInt64{Int64: 3, Valid: true}}
	snap := m.copyOf(ctx, reflect.ValueOf(&k).Elem())
	within := func(snap reflect.Value, p unsafe.Pointer) bool {
		base := uintptr(snap.Addr().UnsafePointer())
		return uintptr(p) >= base && uintptr(p) < base+m.snapType.Size()
	}
	sk := snap.Interface().(Kinds)
	if *sk.PS != "a" || !sk.PT.Equal(at) || sk.PNI.Int64 != 3 || sk.PI != nil {
		t.Fatalf("snapshot %+v", sk)
	}
	if !within(snap, unsafe.Pointer(sk.PS)) || !within(snap, unsafe.Pointer(sk.PNI)) {
		t.Error("pointer column not in the snapshot's slots")
	}
	s = "changed"
	if *sk.PS != "a" {
		t.Error("snapshot shares a value with the model")
	}
	k.I = 5
	set := clause.Set{{Column: clause.Column{Name: "i"}, Value: 5}}
	cs, next, ok := m.update(ctx, set, reflect.ValueOf(&k).Elem(), snap)
	if !ok || cs == nil || len(cs.cols) != 1 {
		t.Fatalf("update: %v %v", cs, ok)
	}
	nk := next.Interface().(Kinds)
	if !within(next, unsafe.Pointer(nk.PS)) || *nk.PS != "a" || nk.I != 5 {
		t.Errorf("new snapshot %+v: its pointer columns are not its own", nk)
	}
	if fmt.Sprint(m.snapType.Field(0).Type) != fmt.Sprint(reflect.TypeFor[Kinds]()) {
		t.Errorf("snapType %v", m.snapType)
	}
}
