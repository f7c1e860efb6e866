package gormaudit

import (
	"context"
	"reflect"
	"runtime"
	"sync"
	"unsafe"
	"weak"
)

// snapshots keeps, for each loaded model value, a copy of it as it was
// loaded (or last saved): the old values of its next update. It is keyed by
// the value's address held weakly, so a model needs no field of ours and
// a snapshot never keeps its model alive; a cleanup attached to the model
// drops the entry once the model is garbage.
//
// The address is that of the struct itself: &order for a single model,
// &orders[i] (an interior pointer into the slice's backing array) for the
// elements of a []Order, the element pointer for a []*Order. weak.Make and
// runtime.AddCleanup both take interior pointers: a weak pointer names an
// object and an offset in it, so &orders[3] and &orders[4] are two keys, and
// the cleanup runs when the whole backing array is garbage. A copy of a
// struct (o := orders[i]; a value returned from a function) has another
// address and so no snapshot: its update records new values only, or fetches
// the old ones with FetchOld.
type snapshots struct {
	shards [shardCount]shard
}

const shardCount = 32

type shard struct {
	mu sync.Mutex
	m  map[key]reflect.Value // the copy; invalid: none (kept for the cleanup)
	_  [40]byte              // keep shards on separate cache lines
}

// key is a model's address, held weakly.
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
	return v.Addr().UnsafePointer()
}

// get returns the snapshot of the struct at p, or an invalid Value.
func (s *snapshots) get(p unsafe.Pointer) reflect.Value {
	if p == nil {
		return reflect.Value{}
	}
	k := weak.Make((*byte)(p))
	sh := s.shard(p)
	sh.mu.Lock()
	v := sh.m[k]
	sh.mu.Unlock()
	return v
}

// put sets the snapshot of the struct at p (an invalid snap removes it)
// and returns the undo of that.
func (s *snapshots) put(p unsafe.Pointer, snap reflect.Value) undo {
	k := weak.Make((*byte)(p))
	sh := s.shard(p)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[key]reflect.Value)
	}
	prev, existed := sh.m[k]
	if !existed && !snap.IsValid() {
		sh.mu.Unlock()
		return undo{k: k, p: p}
	}
	sh.m[k] = snap
	sh.mu.Unlock()
	if !existed {
		// One cleanup per model value, however often it is reloaded: the
		// entry stays (perhaps invalid) until the value is garbage.
		runtime.AddCleanup((*byte)(p), dropKey, cleanupArg{sh, k})
	}
	return undo{k: k, p: p, prev: prev}
}

// restore puts back a snapshot replaced in a transaction that rolled
// back, unless the model has been collected since.
func (s *snapshots) restore(k key, p unsafe.Pointer, snap reflect.Value) {
	sh := s.shard(p)
	sh.mu.Lock()
	if _, ok := sh.m[k]; ok {
		sh.m[k] = snap
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

type cleanupArg struct {
	sh *shard
	k  key
}

func dropKey(a cleanupArg) {
	a.sh.mu.Lock()
	delete(a.sh.m, a.k)
	a.sh.mu.Unlock()
}

// copyOf returns a snapshot of the struct v: a shallow copy with slices,
// maps and pointers of columns copied one level deep (so that changing a
// []byte in place still shows as a change) and associations left out (so
// that the snapshot keeps nothing else alive).
func (m *model) copyOf(ctx context.Context, v reflect.Value) reflect.Value {
	c := reflect.New(m.schema.ModelType).Elem()
	c.Set(v)
	for _, f := range m.rels {
		if rv := f.ReflectValueOf(ctx, c); rv.CanSet() {
			rv.SetZero()
		}
	}
	for _, f := range m.deep {
		deepen(f.ReflectValueOf(ctx, c))
	}
	return c
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
