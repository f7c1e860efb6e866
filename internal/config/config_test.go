package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "kansa.yaml")
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultsValid(t *testing.T) {
	cfg, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Server.Listen != "127.0.0.1:7700" || cfg.Data != "./kansa-data" || cfg.Batch.MaxBytes != 10<<20 {
		t.Fatalf("%+v", cfg)
	}
	if _, err := Load(write(t, "")); err != nil {
		t.Fatalf("empty file: %v", err)
	}
}

func TestLoad(t *testing.T) {
	cfg, err := Load(write(t, `
wal:
  max_bytes: 1GiB
  when_full: drop
batch:
  max_bytes: 5MB
  max_interval: 60s
archive:
  time_zone: Asia/Tokyo
routes:
  rules:
    - name: lograge-audit
      when: [{field: kind, equals: audit}]
      to: audit
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WAL.MaxBytes != 1<<30 || cfg.WAL.WhenFull != "drop" || cfg.Batch.MaxBytes != 5e6 || cfg.Batch.MaxInterval != time.Minute || cfg.Archive.TimeZone != "Asia/Tokyo" || len(cfg.Routes.Rules) != 1 {
		t.Fatalf("%+v", cfg)
	}
	if cfg.Server.Listen != "127.0.0.1:7700" {
		t.Fatal("defaults lost for unset keys")
	}
}

func TestErrors(t *testing.T) {
	cases := []struct{ file, want string }{
		{"server:\n  listn: x\n", `line 2: unknown key "listn"`},
		{"bogus: 1\n", `line 1: unknown key "bogus"`},
		{"wal:\n  when_full: maybe\n", "wal.when_full"},
		{"batch:\n  max_bytes: ten\n", `size "ten"`},
		{"archive:\n  time_zone: Mars/Base\n", "archive.time_zone"},
		{"archive:\n  prefix: /abs/\n", "archive.prefix"},
		{"routes:\n  rules:\n    - to: nowhere\n", "unknown destination"},
		{"route:\n  app_output: file\n", "route.app_file"},
		{"batch:\n  max_interval: 300\n", "line 2: 300 is not a duration; give a unit, such as 300s or 5m"},
		{"archive:\n  gzip_level: 11\n", "archive.gzip_level: 11"},
		{"archive:\n  member_bytes: 4KiB\n", "archive.member_bytes: 4096 is not 16384 (16 KiB) to 1048576 (1 MiB)"},
		{"index:\n  line_cache_bytes: 0\n", "index.line_cache_bytes must be positive"},
		{"archive:\n  gzip_levle: 1\nserver:\n  listn: x\n", `line 2: unknown key "gzip_levle"; line 4: unknown key "listn"`},
	}
	for _, c := range cases {
		_, err := Load(write(t, c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Load(%q) = %v, want %q", c.file, err, c.want)
		}
	}
}

// FuzzDecode: any file either decodes into a config that validates or gives
// an error; it never panics.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("server:\n  listen: 127.0.0.1:1\n"))
	f.Add([]byte("wal:\n  max_bytes: 1GiB\n  when_full: drop\n"))
	f.Add([]byte("routes:\n  rules:\n    - when: [{field: a, equals: 1}]\n      to: audit\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg := Defaults()
		if err := decode(&cfg, data); err != nil {
			return
		}
		_ = cfg.Validate()
	})
}
