package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunKeys(t *testing.T) {
	keysPath := filepath.Join(t.TempDir(), "keys.txt")
	var withKeys, plain bytes.Buffer
	if err := run([]string{"-n", "5000", "-seed", "2", "-keys", keysPath}, &withKeys); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{"-n", "5000", "-seed", "2"}, &plain); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(withKeys.Bytes(), plain.Bytes()) {
		t.Fatal("-keys changes the stream")
	}
	if n := bytes.Count(plain.Bytes(), []byte("\n")); n != 5000 {
		t.Fatalf("%d lines, want 5000", n)
	}
	b, err := os.ReadFile(keysPath)
	if err != nil {
		t.Fatal(err)
	}
	keys := strings.Fields(string(b))
	if len(keys) < 1200 || len(keys) > 1800 {
		t.Fatalf("%d keys in 5000 lines, want about 1500", len(keys))
	}
	for _, k := range keys {
		if c := strings.Count(plain.String(), k); c != 1 {
			t.Fatalf("key %s occurs %d times in the stream", k, c)
		}
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{{"-audit-ratio", "1.5"}, {"-n", "-1"}, {"extra"}} {
		if err := run(args, new(bytes.Buffer)); err == nil {
			t.Errorf("run(%q) succeeded", args)
		}
	}
}
