package gormaudit

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"
	"weak"
)

// TestWeakInteriorPointers checks what the snapshot store relies on:
// weak pointers to two elements of one backing array are two keys, equal
// to the weak pointers made again from the same addresses, and the array
// is collected while only weak pointers and cleanups refer to it.
func TestWeakInteriorPointers(t *testing.T) {
	done := make(chan struct{}, 1)
	func() {
		os := make([]Order, 3)
		k0, k1 := weak.Make((*byte)(unsafe.Pointer(&os[0]))), weak.Make((*byte)(unsafe.Pointer(&os[1])))
		if k0 == k1 {
			t.Fatal("two elements, one weak key")
		}
		if k1 != weak.Make((*byte)(unsafe.Pointer(&os[1]))) {
			t.Fatal("weak key of the same element differs")
		}
		if k1.Value() != (*byte)(unsafe.Pointer(&os[1])) {
			t.Fatal("weak key does not lead back to its element")
		}
		runtime.AddCleanup(&os[2], func(ch chan struct{}) { ch <- struct{}{} }, done)
		runtime.KeepAlive(os)
	}()
	waitGC(t, func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
}

func waitGC(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("not collected")
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSnapshotsFollowTheModels(t *testing.T) {
	e := newEnv(t, "sqlite", Config{}, nil)
	e.must(e.db.Exec("CREATE TABLE orders (id integer primary key, customer text, status text, total integer, note text, secret text, internal text, created_at datetime, updated_at datetime)"))
	for i := 1; i <= 3; i++ {
		e.must(e.db.Exec("INSERT INTO orders (id, status) VALUES (?, ?)", i, fmt.Sprint("s", i)))
	}
	snaps := &e.plugin.snaps
	func() {
		var os []Order
		e.must(e.db.Order("id").Find(&os))
		var ps []*Order
		e.must(e.db.Order("id").Find(&ps))
		if n := snaps.len(); n != 6 {
			t.Fatalf("%d snapshots, want 6", n)
		}
		for i := range os {
			for _, p := range []unsafe.Pointer{unsafe.Pointer(&os[i]), unsafe.Pointer(ps[i])} {
				s := snaps.get(p)
				if !s.IsValid() || s.Interface().(Order).Status != os[i].Status {
					t.Errorf("element %d: snapshot %v", i, s)
				}
			}
		}
		// reloading the same value replaces its snapshot, without a second entry
		e.must(e.db.Order("id").Find(&os))
		if n := snaps.len(); n != 6 {
			t.Fatalf("after reload: %d snapshots, want 6", n)
		}
		runtime.KeepAlive(os)
		runtime.KeepAlive(ps)
	}()
	waitGC(t, func() bool { return snaps.len() == 0 })
}

// TestConcurrentUse runs loads, updates and transactions from several
// goroutines (for the race detector).
func TestConcurrentUse(t *testing.T) {
	for _, kind := range backends {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, kind, Config{}, nil)
			if err := e.db.AutoMigrate(&Order{}); err != nil {
				t.Fatal(err)
			}
			const workers, rounds = 4, 10
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for r := range rounds {
						id := int64(w*1000 + r + 1)
						if err := e.db.Create(&Order{ID: id, Status: "new"}).Error; err != nil {
							t.Error(err)
							return
						}
						var o Order
						if err := e.db.First(&o, id).Error; err != nil {
							t.Error(err)
							return
						}
						o.Status = "paid"
						if err := e.db.WithContext(context.Background()).Save(&o).Error; err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			evs := e.events()
			updates := 0
			for _, ev := range evs {
				if ev.Action == "update" {
					updates++
					if ev.change("status") != `["new","paid"]` {
						t.Errorf("update: %s", ev.Line)
					}
				}
			}
			if len(evs) != 2*workers*rounds || updates != workers*rounds {
				t.Errorf("%d events, %d updates", len(evs), updates)
			}
		})
	}
}

// TestSliceOwner checks that the elements of a []Order share one weak
// handle, that of their backing array, and those of a []*Order do not.
func TestSliceOwner(t *testing.T) {
	e := newEnv(t, "sqlite", Config{}, nil)
	e.must(e.db.Exec("CREATE TABLE orders (id integer primary key, customer text, status text, total integer, note text, secret text, internal text, created_at datetime, updated_at datetime)"))
	for i := 1; i <= 3; i++ {
		e.must(e.db.Exec("INSERT INTO orders (id, status) VALUES (?, ?)", i, fmt.Sprint("s", i)))
	}
	snaps := &e.plugin.snaps
	keyOf := func(p unsafe.Pointer) key {
		sh := snaps.shard(p)
		sh.mu.Lock()
		defer sh.mu.Unlock()
		return sh.m[uintptr(p)].k
	}
	var os []Order
	e.must(e.db.Order("id").Find(&os))
	var ps []*Order
	e.must(e.db.Order("id").Find(&ps))
	for i := range os {
		if k := keyOf(unsafe.Pointer(&os[i])); k != keyOf(unsafe.Pointer(&os[0])) || k.Value() != (*byte)(unsafe.Pointer(&os[0])) {
			t.Errorf("element %d: not the array's key", i)
		}
		if i > 0 && keyOf(unsafe.Pointer(ps[i])) == keyOf(unsafe.Pointer(ps[0])) {
			t.Errorf("pointer %d: shares a key", i)
		}
	}
	// an element updated alone keeps its entry
	os[2].Status = "x"
	e.must(e.db.Save(&os[2]))
	if ev := e.wantEvents(1)[0]; ev.change("status") != `["s3","x"]` {
		t.Errorf("update: %s", ev.Line)
	}
	runtime.KeepAlive(os)
	runtime.KeepAlive(ps)
}
