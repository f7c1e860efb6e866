package gormaudit

import (
	"context"
	"reflect"
	"time"
	"unsafe"

	"github.com/kansa-audit/kansa/audit"
	"gorm.io/gorm/clause"
)

// changeSet is the audit.ChangeSet of an event: the changes are read from
// snapshots, which nothing writes once made, when the Logger encodes the
// event, so that their values are boxed on its goroutine rather than on
// the request path. It is one allocation; what the request path records
// is which columns changed.
type changeSet struct {
	m        *model
	old, new unsafe.Pointer // snapshots (their structs); nil: none
	op       changeOp
	// cols are the changed columns of an update, in SET order: an index
	// in m.all, or eagerBit and an index in eager.
	cols  []uint16
	eager []audit.Change // changes boxed on the request path (columns no snapshot owns)
	buf   [12]uint16     // cols' own storage, for up to 12 changes
}

type changeOp uint8

const (
	opUpdate changeOp = iota // cols, from old to new
	opCreate                 // every audited column, from new
	opDelete                 // every audited column, from old
)

// eagerBit marks an entry of changeSet.cols that is an index in eager.
const eagerBit = 1 << 15

var _ audit.ChangeSet = (*changeSet)(nil)

// EachChange yields the changes, as updateChanges and values would have
// returned them.
func (cs *changeSet) EachChange(yield func(audit.Change)) {
	m := cs.m
	switch cs.op {
	case opUpdate:
		for _, i := range cs.cols {
			if i&eagerBit != 0 {
				yield(cs.eager[i&^eagerBit])
				continue
			}
			c := &m.all[i]
			if c.redacted {
				yield(audit.Diff(c.name, audit.Redacted, audit.Redacted))
				continue
			}
			yield(audit.Diff(c.name, c.box(unsafe.Add(cs.old, c.off)), c.box(unsafe.Add(cs.new, c.off))))
		}
	case opCreate, opDelete:
		snap := cs.new
		if cs.op == opDelete {
			snap = cs.old
		}
		for i := range m.cols {
			c := &m.cols[i]
			if c.redacted {
				yield(audit.Value(c.name, audit.Redacted))
				continue
			}
			p := unsafe.Add(snap, c.off)
			if c.typ == float32Type {
				yield(audit.Value(c.name, *(*float32)(p))) // own keeps a float32 one
				continue
			}
			yield(audit.Value(c.name, c.box(p)))
		}
	}
}

// at returns the column in the struct at base (a fixed column).
func (c *column) at(base unsafe.Pointer) reflect.Value {
	return reflect.NewAt(c.typ, unsafe.Add(base, c.off)).Elem()
}

var float32Type = reflect.TypeFor[float32]()

// boxFunc returns ownValue of a value of type t at an address in a
// snapshot, with less reflect. A string or a time is returned as a
// pointer into the snapshot, which nothing writes: the Logger writes it as
// the value it points to, and boxing it allocates nothing.
func boxFunc(t reflect.Type) func(unsafe.Pointer) any {
	valuer := t.Implements(valuerType) // ownValue's test, for these kinds
	switch {
	case t == timeType:
		return func(p unsafe.Pointer) any { return (*time.Time)(p) }
	case t.Kind() == reflect.String && !valuer:
		return func(p unsafe.Pointer) any { return (*string)(p) }
	case t.Kind() == reflect.Bool:
		return func(p unsafe.Pointer) any { return *(*bool)(p) }
	case t.Kind() == reflect.Pointer && !t.Implements(valuerType):
		switch et := t.Elem(); {
		case et == timeType:
			return func(p unsafe.Pointer) any { return *(**time.Time)(p) } // nil: written null
		case et.Kind() == reflect.String && !et.Implements(valuerType):
			return func(p unsafe.Pointer) any { return *(**string)(p) }
		}
	case !valuer:
		switch t.Kind() {
		case reflect.Int, reflect.Int64:
			if t.Size() == 8 {
				return func(p unsafe.Pointer) any { return *(*int64)(p) }
			}
		case reflect.Int32:
			return func(p unsafe.Pointer) any { return int64(*(*int32)(p)) }
		case reflect.Uint, reflect.Uint64:
			if t.Size() == 8 {
				return func(p unsafe.Pointer) any { return *(*uint64)(p) }
			}
		case reflect.Float64:
			return func(p unsafe.Pointer) any { return *(*float64)(p) }
		}
	}
	return func(p unsafe.Pointer) any { return ownValue(reflect.NewAt(t, p).Elem()) }
}

// add notes that column i changed.
func (cs *changeSet) add(m *model, i uint16) *changeSet {
	if cs == nil {
		cs = &changeSet{m: m, op: opUpdate}
		cs.cols = cs.buf[:0]
	}
	cs.cols = append(cs.cols, i)
	return cs
}

// addEager adds a change boxed already.
func (cs *changeSet) addEager(m *model, ch audit.Change) *changeSet {
	cs = cs.add(m, eagerBit|uint16(len(cs.eagerOrNil())))
	cs.eager = append(cs.eager, ch)
	return cs
}

func (cs *changeSet) eagerOrNil() []audit.Change {
	if cs == nil {
		return nil
	}
	return cs.eager
}

// rowChangeSet returns the changeSet of a created row (op opCreate, its
// snapshot) or a deleted one (opDelete, its old values), or nil when a
// column is not one a changeSet may read late (see column.lazy) or snap is
// not addressable.
func (m *model) rowChangeSet(op changeOp, snap reflect.Value) *changeSet {
	if !m.lazy || !snap.IsValid() || !snap.CanAddr() || snap.Type() != m.schema.ModelType {
		return nil
	}
	cs := &changeSet{m: m, op: op}
	if op == opCreate {
		cs.new = snap.Addr().UnsafePointer()
	} else {
		cs.old = snap.Addr().UnsafePointer()
	}
	return cs
}

// update records the update of the model e, to which GORM assigned the
// values of set, against its old snapshot old (addressable), and makes its
// new snapshot: old with the columns of set copied from e. Values are
// compared in place, without boxing where the column's type allows it
// (eqOf); the changed columns are returned as a changeSet (nil: no
// change) that reads old and the new snapshot, neither of which anything
// writes, when the event is encoded. ok is false when set assigns a SQL
// expression: the database has the new value, and the caller records the
// update with updateChanges.
func (m *model) update(ctx context.Context, set clause.Set, e, old reflect.Value) (cs *changeSet, snap reflect.Value, ok bool) {
	for i := range set {
		if isExpr(set[i].Value) {
			if c := m.byName[set[i].Column.Name]; c == nil || !c.except && !c.autoUpdate {
				return nil, reflect.Value{}, false
			}
		}
	}
	snap = m.newSnapshot()
	snap.Set(old)
	ob, nb, eb := unsafe.Pointer(old.UnsafeAddr()), unsafe.Pointer(snap.UnsafeAddr()), unsafe.Pointer(e.UnsafeAddr())
	next := 0
	for i := range set {
		a := &set[i]
		c := m.column(a.Column.Name, &next)
		if c == nil {
			// not a column of the model: the value as assigned, old unknown
			cs = cs.addEager(m, audit.Value(a.Column.Name, ownValue(reflect.ValueOf(a.Value))))
			continue
		}
		// the new snapshot
		if c.fixed {
			c.copy(unsafe.Add(nb, c.off), unsafe.Add(eb, c.off))
			if c.deep {
				deepen(c.at(nb))
			}
		} else if dst := c.f.ReflectValueOf(ctx, snap); dst.CanSet() {
			dst.Set(c.f.ReflectValueOf(ctx, e))
			deepen(dst)
		}
		if c.except || c.autoUpdate {
			continue
		}
		// the diff
		if c.eq != nil {
			if c.eq(unsafe.Add(ob, c.off), unsafe.Add(eb, c.off)) {
				continue
			}
		} else if sameRV(c.f.ReflectValueOf(ctx, old), c.f.ReflectValueOf(ctx, e)) {
			continue
		}
		if (c.lazy || c.redacted) && c.idx < eagerBit {
			cs = cs.add(m, c.idx)
		} else {
			// a value the application could still change: box it now
			ov, nv := ownValue(c.f.ReflectValueOf(ctx, old)), ownValue(c.f.ReflectValueOf(ctx, e))
			cs = cs.addEager(m, audit.Diff(c.name, ov, nv))
		}
	}
	m.relocate(snap)
	if cs != nil {
		cs.old, cs.new = ob, nb
	}
	return cs, snap, true
}

// column returns the column named name, or nil. GORM's SET clauses often
// name the columns in schema order (Save: all of them), so the few columns
// after the one found last are tried before the map; next holds where.
func (m *model) column(name string, next *int) *column {
	for i, end := *next, min(*next+4, len(m.all)); i < end; i++ {
		if m.all[i].name == name {
			*next = i + 1
			return &m.all[i]
		}
	}
	c := m.byName[name]
	if c != nil {
		*next = int(c.idx) + 1
	}
	return c
}
