package objstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
