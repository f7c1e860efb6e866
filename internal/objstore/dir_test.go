package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

func TestDir(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"b/2.gz", "a/x=1/1.gz", "a/x=1/0.gz", "c"} {
		if err := d.Put(ctx, k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Put(ctx, "b/2.gz", []byte("again")); err != nil {
		t.Fatal(err)
	}
	if b, err := d.Get(ctx, "b/2.gz"); err != nil || string(b) != "again" {
		t.Fatalf("Get = %q, %v", b, err)
	}
	if _, err := d.Get(ctx, "nope"); !errors.Is(err, ErrNotExist) {
		t.Fatalf("Get missing = %v", err)
	}
	if b, err := d.GetRange(ctx, "b/2.gz", 1, 3, []byte("x")); err != nil || string(b) != "xgai" {
		t.Fatalf("GetRange = %q, %v; want \"xgai\"", b, err)
	}
	if b, err := d.GetRange(ctx, "b/2.gz", 3, 3, nil); err == nil {
		t.Fatalf("GetRange past the end = %q, want an error", b)
	}
	if _, err := d.GetRange(ctx, "nope", 0, 1, nil); !errors.Is(err, ErrNotExist) {
		t.Fatalf("GetRange missing = %v", err)
	}
	var got []string
	if err := d.List(ctx, "a/", func(k string, _ int64) error { got = append(got, k); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "a/x=1/0.gz" || got[1] != "a/x=1/1.gz" {
		t.Fatalf("List = %q", got)
	}
	got = nil
	d.List(ctx, "", func(k string, _ int64) error { got = append(got, k); return nil })
	if len(got) != 4 {
		t.Fatalf("List all = %q", got)
	}
	entries, _ := os.ReadDir(filepath.Join(d.Root(), "b"))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestCheckKey(t *testing.T) {
	for _, bad := range []string{"", "/abs", "a/../b", "a//b", "..", "a\\b", "a/./b", "x/"} {
		if CheckKey(bad) == nil {
			t.Errorf("CheckKey(%q) accepted", bad)
		}
	}
	if err := CheckKey("tenant=%2E%2E/year=2024/x.gz"); err != nil {
		t.Error(err)
	}
}

// counting counts the Gets of the store it wraps, those in flight and
// those started; full is closed when fullAt have started.
type counting struct {
	*Dir
	mu                         sync.Mutex
	now, most, started, fullAt int
	full                       chan struct{}
}

func (c *counting) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	c.now++
	c.most = max(c.most, c.now)
	if c.started++; c.started == c.fullAt {
		close(c.full)
	}
	c.mu.Unlock()
	defer func() { c.mu.Lock(); c.now--; c.mu.Unlock() }()
	return c.Dir.Get(ctx, key)
}

// TestGetEach: objects come to fn in the order of the keys, no more than
// ahead+1 are read at once, and a missing object or fn's error stops it.
func TestGetEach(t *testing.T) {
	ctx := context.Background()
	d, err := NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 50 {
		k := fmt.Sprintf("f/%02d", i)
		keys = append(keys, k)
		if err := d.Put(ctx, k, bytes.Repeat([]byte{byte(i)}, 1000+i)); err != nil {
			t.Fatal(err)
		}
	}
	// Get only: GetAppend is Dir's, so the wrapper hides it.
	c := &counting{Dir: d, fullAt: 4, full: make(chan struct{})}
	var got []string
	err = GetEach(ctx, struct{ Store }{c}, keys, 3, func(key string, data []byte) error {
		if key == keys[0] {
			<-c.full // the first object and 3 ahead of it have been read
			c.mu.Lock()
			started := c.started
			c.mu.Unlock()
			if started != 4 {
				t.Errorf("%d Gets started while fn held the first object, want 1 + 3 ahead", started)
			}
		}
		if want := bytes.Repeat([]byte{data[0]}, len(data)); !bytes.Equal(data, want) || fmt.Sprintf("f/%02d", data[0]) != key {
			t.Fatalf("%s: got the bytes of another object", key)
		}
		got = append(got, key)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, keys) {
		t.Fatalf("fn saw %v, want %v", got, keys)
	}
	if c.most > 4 || c.most < 1 {
		t.Fatalf("%d Gets at once, want 1 to 4", c.most)
	}

	missing := append(slices.Clone(keys[:5]), "f/nope", keys[5])
	n := 0
	err = GetEach(ctx, d, missing, 2, func(string, []byte) error { n++; return nil })
	if !errors.Is(err, ErrNotExist) || n != 5 {
		t.Fatalf("a missing object: err %v after %d calls, want ErrNotExist after 5", err, n)
	}
	stop := errors.New("stop")
	n = 0
	err = GetEach(ctx, d, keys, 4, func(string, []byte) error {
		if n++; n == 7 {
			return stop
		}
		return nil
	})
	if err != stop || n != 7 {
		t.Fatalf("fn's error: %v after %d calls, want stop after 7", err, n)
	}
}
