package gormaudit

import (
	"context"
	"reflect"
	"runtime"
	"sync"
	"time"
	"unsafe"
	"weak"

	"gorm.io/gorm/clause"
)

// snapshots keeps, for each loaded model value, a copy of it as it was
// loaded (or last saved): the old values of its next update. It is keyed by
// the value's address, with a weak pointer to the object holding it, so a
// model needs no field of ours and a snapshot never keeps its model alive.
//
// The address is that of the struct itself: &order for a single model,
// &orders[i] (an interior pointer into the slice's backing array) for the
// elements of a []Order, the element pointer for a []*Order. A copy of a
// struct (o := orders[i]; a value returned from a function) has another
// address and so no snapshot: its update records new values only, or
// fetches the old ones with FetchOld.
//
// An entry is that of the value at its address only while its weak pointer
// is not nil: once the object is garbage, it is, and a new value at the
// same address is another model. The elements of a []Order share one weak
// pointer, to their backing array (made from the first element: weak.Make
// takes interior pointers): they live and die with it, and a weak handle
// per element would cost an allocation each, and a runtime special whose
// insertion walks those of the array before it — quadratic in the rows of
// one query. Dead entries are removed by a sweep after each garbage
// collection (as the unique package does), rather than by a cleanup per
// model, which would cost two allocations and another special per loaded
// row. The sweep, on a goroutine of its own, reads each entry's weak
// pointer: work in proportion to the snapshots, which the collection has
// just marked anyway.
type snapshots struct {
	shards [shardCount]shard
	arm    sync.Once
}

const shardCount = 32

type shard struct {
	mu sync.Mutex
	m  map[uintptr]entry
	_  [48]byte // keep shards on separate cache lines
}

// entry is the snapshot of the model at an address.
type entry struct {
	k    key           // the model; Value nil once it is garbage
	snap reflect.Value // the copy; invalid: none
}

// key is a weak pointer to the object holding a model.
type key = weak.Pointer[byte]

func (s *snapshots) shard(p unsafe.Pointer) *shard {
	h := uint64(uintptr(p)) * 0x9E3779B97F4A7C15
	return &s.shards[h>>(64-5)]
}

// addrOf returns the address of the struct v, or nil when v is not
// addressable.
func addrOf(v reflect.Value) unsafe.Pointer {
	if !v.CanAddr() {
		return nil
	}
	return unsafe.Pointer(v.UnsafeAddr())
}

// get returns the snapshot of the struct at p, or an invalid Value.
func (s *snapshots) get(p unsafe.Pointer) reflect.Value {
	if p == nil {
		return reflect.Value{}
	}
	sh := s.shard(p)
	sh.mu.Lock()
	e, ok := sh.m[uintptr(p)]
	sh.mu.Unlock()
	if !ok || e.k.Value() == nil {
		return reflect.Value{} // none, or that of a value collected since
	}
	return e.snap
}

// owner is the object that holds the models of a statement: a slice's
// backing array, whose weak pointer its elements share. It is made when
// first needed.
type owner struct {
	p unsafe.Pointer // the first element
	k key
}

// ownerOf returns the owner of the models in rv when it is a slice of
// structs, else none (p nil): each model is an object of its own.
func ownerOf(rv reflect.Value) owner {
	if rv.Kind() == reflect.Slice && rv.Len() > 0 && rv.Type().Elem().Kind() == reflect.Struct {
		return owner{p: rv.Index(0).Addr().UnsafePointer()}
	}
	return owner{}
}

// key returns the weak pointer of the object holding the model at p.
func (o *owner) key(p unsafe.Pointer) key {
	if o == nil || o.p == nil {
		return weak.Make((*byte)(p))
	}
	if o.k == (key{}) {
		o.k = weak.Make((*byte)(o.p))
	}
	return o.k
}

// put sets the snapshot of the struct at p (an invalid snap removes it),
// which o holds (nil, or none: p is an object of its own), and returns
// the undo of that.
func (s *snapshots) put(p unsafe.Pointer, o *owner, snap reflect.Value) undo {
	sh := s.shard(p)
	sh.mu.Lock()
	e, ok := sh.m[uintptr(p)]
	if ok && e.k.Value() != nil {
		sh.m[uintptr(p)] = entry{k: e.k, snap: snap}
		sh.mu.Unlock()
		return undo{k: e.k, p: p, prev: e.snap}
	}
	sh.mu.Unlock()
	if !snap.IsValid() {
		return undo{p: p} // nothing to remove, nothing to put back
	}
	// A new entry (or one of a value collected since): one weak handle per
	// model value or slice, however often it is reloaded.
	k := o.key(p)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uintptr]entry)
	}
	sh.m[uintptr(p)] = entry{k: k, snap: snap}
	sh.mu.Unlock()
	s.arm.Do(s.sweepAfterGC)
	return undo{k: k, p: p}
}

// restore puts back a snapshot replaced in a transaction that rolled
// back, unless the model has been collected or reloaded since.
func (s *snapshots) restore(k key, p unsafe.Pointer, snap reflect.Value) {
	sh := s.shard(p)
	sh.mu.Lock()
	if e, ok := sh.m[uintptr(p)]; ok && e.k == k {
		sh.m[uintptr(p)] = entry{k: k, snap: snap}
	}
	sh.mu.Unlock()
}

// len returns the number of entries, for tests.
func (s *snapshots) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// gcTick is garbage as soon as it is made: its cleanup runs after the
// next garbage collection. (It holds a pointer so as not to be a tiny
// allocation, whose cleanup could wait for its neighbours.)
type gcTick struct{ _ *byte }

// sweepAfterGC arranges for s to be swept after the next garbage
// collection, and after each one following, for as long as s is in use.
func (s *snapshots) sweepAfterGC() {
	runtime.AddCleanup(&gcTick{}, afterGC, weak.Make(s))
}

func afterGC(w weak.Pointer[snapshots]) {
	if s := w.Value(); s != nil {
		go func() {
			s.sweep()
			s.sweepAfterGC()
		}()
	}
}

// sweep removes the entries of collected models. The lock is released
// every so often, so that a large shard does not hold up the callbacks.
func (s *snapshots) sweep() {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n := 0
		for p, e := range sh.m {
			if e.k.Value() == nil {
				delete(sh.m, p)
			}
			if n++; n%1024 == 0 {
				sh.mu.Unlock()
				sh.mu.Lock()
			}
		}
		sh.mu.Unlock()
	}
}

// copyOf returns a snapshot of the struct v: a shallow copy with slices,
// maps and pointers of columns copied one level deep (so that changing a
// []byte in place still shows as a change) and associations left out (so
// that the snapshot keeps nothing else alive). The values of pointer
// columns are copied into the snapshot's own slots.
func (m *model) copyOf(ctx context.Context, v reflect.Value) reflect.Value {
	c := m.newSnapshot()
	c.Set(v)
	for _, f := range m.rels {
		if rv := f.ReflectValueOf(ctx, c); rv.CanSet() {
			rv.SetZero()
		}
	}
	m.relocate(c)
	for _, f := range m.deep {
		deepen(f.ReflectValueOf(ctx, c))
	}
	return c
}

// newSnapshot returns a new zero struct of the model, addressable, in an
// allocation with room for its slots.
func (m *model) newSnapshot() reflect.Value {
	if len(m.slots) == 0 {
		return reflect.New(m.schema.ModelType).Elem()
	}
	return reflect.New(m.snapType).Elem().Field(0)
}

// relocate copies what the pointer columns of the new snapshot c point to
// into its slots, and points them there: a snapshot refers to no value of
// the model's, nor to another snapshot's slots (which would keep that one
// alive).
func (m *model) relocate(c reflect.Value) {
	if len(m.slots) == 0 {
		return
	}
	base := unsafe.Pointer(c.UnsafeAddr()) // the start of a snapType
	for i := range m.slots {
		s := &m.slots[i]
		pp := (*unsafe.Pointer)(unsafe.Add(base, s.off))
		if *pp == nil {
			continue
		}
		dst := unsafe.Add(base, s.at)
		s.copy(dst, *pp)
		*pp = dst
	}
}

// applied returns a new snapshot: old with the columns of set copied from
// the model e, which GORM assigned them to. (update does this too, and
// diffs on the way.)
func (m *model) applied(ctx context.Context, old reflect.Value, set clause.Set, e reflect.Value) reflect.Value {
	c := m.newSnapshot()
	c.Set(old)
	for i := range set {
		col := m.byName[set[i].Column.Name]
		if col == nil {
			continue
		}
		dst := col.f.ReflectValueOf(ctx, c)
		if !dst.CanSet() {
			continue
		}
		dst.Set(col.f.ReflectValueOf(ctx, e))
		if !col.slotted {
			deepen(dst)
		}
	}
	m.relocate(c)
	return c
}

// copyFunc returns the assignment of values of type t from src to dst.
func copyFunc(t reflect.Type) func(dst, src unsafe.Pointer) {
	switch {
	case t == timeType:
		return func(dst, src unsafe.Pointer) { *(*time.Time)(dst) = *(*time.Time)(src) }
	case !hasPointers(t):
		switch t.Size() {
		case 1:
			return func(dst, src unsafe.Pointer) { *(*uint8)(dst) = *(*uint8)(src) }
		case 2:
			return func(dst, src unsafe.Pointer) { *(*uint16)(dst) = *(*uint16)(src) }
		case 4:
			return func(dst, src unsafe.Pointer) { *(*uint32)(dst) = *(*uint32)(src) }
		case 8:
			return func(dst, src unsafe.Pointer) { *(*uint64)(dst) = *(*uint64)(src) }
		}
	}
	switch t.Kind() {
	case reflect.String:
		return func(dst, src unsafe.Pointer) { *(*string)(dst) = *(*string)(src) }
	case reflect.Slice:
		return func(dst, src unsafe.Pointer) { *(*[]byte)(dst) = *(*[]byte)(src) }
	case reflect.Pointer, reflect.Map:
		return func(dst, src unsafe.Pointer) { *(*unsafe.Pointer)(dst) = *(*unsafe.Pointer)(src) }
	}
	return func(dst, src unsafe.Pointer) { reflect.NewAt(t, dst).Elem().Set(reflect.NewAt(t, src).Elem()) }
}

// hasPointers reports whether values of t hold pointers.
func hasPointers(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return false
	case reflect.Array:
		return t.Len() > 0 && hasPointers(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if hasPointers(t.Field(i).Type) {
				return true
			}
		}
		return false
	}
	return true
}

// deepen replaces what v refers to by a copy.
func deepen(v reflect.Value) {
	if !v.CanSet() {
		return
	}
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return
		}
		n := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		reflect.Copy(n, v)
		v.Set(n)
	case reflect.Map:
		if v.IsNil() {
			return
		}
		n := reflect.MakeMapWithSize(v.Type(), v.Len())
		it := v.MapRange()
		for it.Next() {
			n.SetMapIndex(it.Key(), it.Value())
		}
		v.Set(n)
	case reflect.Pointer:
		if v.IsNil() {
			return
		}
		n := reflect.New(v.Type().Elem())
		n.Elem().Set(v.Elem())
		deepen(n.Elem())
		v.Set(n)
	}
}
