// Package config reads kansa's YAML config file. Every setting has a
// default, so no file is needed to start; a key the file has that kansa does
// not know is an error that names the key and its line. The struct field
// comments below are the config reference (docs/config.md shows them as a
// whole file).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/input/cloudtrail"
	"github.com/kansa-audit/kansa/internal/input/pgaudit"
	"github.com/kansa-audit/kansa/internal/input/pgcdc"
	"github.com/kansa-audit/kansa/internal/objstore/s3store"
	"github.com/kansa-audit/kansa/internal/route"
)

// Config is the whole file.
type Config struct {
	// Data is the state directory (WAL, checkpoints, local archive). The
	// --data flag overrides it. Default ./kansa-data.
	Data string `yaml:"data"`
	// WriterID names this collector in object keys, so collectors sharing a
	// bucket never collide. Default: generated on first start and kept in
	// <data>/writer-id.
	WriterID string `yaml:"writer_id"`
	// Tenant is stamped on events that carry none. Default "default".
	Tenant string `yaml:"tenant"`

	Server  Server       `yaml:"server"`
	WAL     WAL          `yaml:"wal"`
	Batch   Batch        `yaml:"batch"`
	Archive Archive      `yaml:"archive"`
	Routes  route.Config `yaml:"routes"`
	Route   RouteMode    `yaml:"route"`
	Search  Search       `yaml:"search"`
	Index   Index        `yaml:"index"`

	Checkpoints Checkpoints `yaml:"checkpoints"`
	Inputs      Inputs      `yaml:"inputs"`
}

// Inputs are what kansa serve reads beside HTTP.
type Inputs struct {
	// PgAudit follows PostgreSQL log directories for pgAudit entries
	// (docs/pgaudit.md).
	PgAudit []pgaudit.Config `yaml:"pgaudit"`
	// Postgres captures committed row changes through logical replication
	// (docs/pgcdc.md).
	Postgres []pgcdc.Config `yaml:"postgres"`
	// CloudTrail reads CloudTrail log files announced on an SQS queue, or
	// found by polling a bucket (docs/cloudtrail.md).
	CloudTrail []cloudtrail.Config `yaml:"cloudtrail"`
}

// Server is `kansa serve`.
type Server struct {
	// Listen is the HTTP address. The --listen flag overrides it. Default
	// 127.0.0.1:7700.
	Listen string `yaml:"listen"`
	// MaxBodyBytes bounds one ingest request (after gzip decoding); larger
	// requests get 413. Default 32MiB.
	MaxBodyBytes ByteSize `yaml:"max_body_bytes"`
	// ShutdownGrace is how long SIGTERM waits for in-flight requests and the
	// final batch before exiting. Default 30s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Source is stamped on HTTP-ingested events that carry none. Default "http".
	Source string `yaml:"source"`
}

// WAL is the write-ahead log.
type WAL struct {
	// SegmentBytes is the size of one WAL segment file. Default 64MiB.
	SegmentBytes ByteSize `yaml:"segment_bytes"`
	// MaxBytes bounds the WAL on disk; when a sink is down and the WAL
	// reaches it, when_full applies. Default 2GiB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// WhenFull is what `kansa route` does when the WAL is full: block (the
	// default: the input waits, so no unaudited action goes through) or drop
	// (audit lines are counted in kansa_dropped_total, logged, and lost).
	// HTTP ingest always answers 503 with Retry-After instead.
	WhenFull string `yaml:"when_full"`
}

// Batch is how the WAL is cut into archive batches.
type Batch struct {
	// MaxBytes closes a batch at this many bytes of records. Default 10MB.
	MaxBytes ByteSize `yaml:"max_bytes"`
	// MaxInterval closes a batch when its oldest record is this old.
	// Default 300s.
	MaxInterval time.Duration `yaml:"max_interval"`
}

// Archive is where batches go.
type Archive struct {
	// Dir is the local archive directory. Default <data>/archive.
	Dir string `yaml:"dir"`
	// Prefix, ErrorPrefix, TimeZone, GzipLevel and MemberBytes: see
	// archive.Config.
	Prefix      string   `yaml:"prefix"`
	ErrorPrefix string   `yaml:"error_prefix"`
	TimeZone    string   `yaml:"time_zone"`
	GzipLevel   int      `yaml:"gzip_level"`
	MemberBytes ByteSize `yaml:"member_bytes"`
	// Formats are the files each batch becomes: ndjson (gzip NDJSON,
	// always: search reads it) and, with parquet, Parquet files too.
	Formats []string `yaml:"formats"`
	// ParquetPrefix is the template for Parquet files; it must differ
	// from Prefix. Default archive.DefaultParquetPrefix.
	ParquetPrefix string `yaml:"parquet_prefix"`
	// RetentionDays, when positive, deletes this collector's batches whose
	// newest event is older than that many days: once at start and then
	// daily, each time recorded in its logs first, so that kansa verify
	// reports their files as expired by policy. 0 (the default) keeps
	// everything.
	RetentionDays int `yaml:"retention_days"`
	// S3, when it names a bucket, is where the archive goes instead of Dir:
	// AWS S3 or an S3-compatible server (s3store.Config documents each
	// setting).
	S3 s3store.Config `yaml:"s3"`
}

// Location names the archive for people and query engines:
// s3://bucket/prefix/ or the directory.
func (a Archive) Location(data string) string {
	if a.S3.Bucket != "" {
		p := strings.Trim(a.S3.Prefix, "/")
		if p != "" {
			p += "/"
		}
		return "s3://" + a.S3.Bucket + "/" + p
	}
	if a.Dir != "" {
		return a.Dir
	}
	return filepath.Join(data, "archive")
}

// Parquet reports whether batches are also written as Parquet.
func (a Archive) Parquet() bool { return slices.Contains(a.Formats, "parquet") }

// RouteMode is `kansa route`, the sidecar.
type RouteMode struct {
	// Source is stamped on audit events read from stdin. Default "stdin".
	Source string `yaml:"source"`
	// AppOutput is where application-log lines go: stdout (the default) or
	// file.
	AppOutput string `yaml:"app_output"`
	// AppFile is the file for app_output: file (appended to).
	AppFile string `yaml:"app_file"`
	// MaxLineBytes bounds one input line; a longer line is passed to the
	// application log unchanged if it is not audit, and rejected to the
	// error output otherwise. Default 4MiB.
	MaxLineBytes ByteSize `yaml:"max_line_bytes"`
}

// Index is the search index (docs/search-index.md): a second sink on the
// WAL that makes events searchable by actor, record and request id in
// milliseconds.
type Index struct {
	// Enabled turns the index on. Default false. The WAL keeps a record
	// until the index has it too.
	Enabled bool `yaml:"enabled"`
	// Dir is where it lives. Default <data>/index.
	Dir string `yaml:"dir"`
	// MaxInterval is how long an event may wait in the WAL before it is
	// indexed. Default 1s.
	MaxInterval time.Duration `yaml:"max_interval"`
	// CacheBytes is the index's block cache (postings, and events kept
	// as copies). Default 1GiB; filled as lookups read, so an index
	// smaller than it never uses it all.
	CacheBytes ByteSize `yaml:"cache_bytes"`
	// LineCacheBytes holds events the index read from the archive (kept
	// by reference). Default 1GiB, filled as lookups read.
	LineCacheBytes ByteSize `yaml:"line_cache_bytes"`
}

// Checkpoints are the signed statements of the archive's logs
// (docs/tamper-evidence.md).
type Checkpoints struct {
	// Interval is how often a checkpoint is signed for every log that grew;
	// one is also signed at shutdown. Default 5m.
	Interval time.Duration `yaml:"interval"`
	// KeyFile is the Ed25519 signing key (C2SP note format, PRIVATE+KEY+…).
	// Default <data>/checkpoint.key, generated on first start; production
	// configs name a key file kept elsewhere. To rotate, name a new key: the
	// public half of every key that signed is kept beside the checkpoints.
	KeyFile string `yaml:"key_file"`
	// Dir is a local directory for checkpoints. Default: the archive's store
	// (its directory or bucket), under _kansa/checkpoints/.
	Dir string `yaml:"dir"`
	// S3, when it names a bucket, holds the checkpoints instead: for example
	// a bucket with Object Lock in compliance mode. Same settings as
	// archive.s3.
	S3 s3store.Config `yaml:"s3"`
}

// KeyPath returns the signing key's path for data directory data.
func (c Checkpoints) KeyPath(data string) string {
	if c.KeyFile != "" {
		return c.KeyFile
	}
	return filepath.Join(data, "checkpoint.key")
}

// Location returns the index directory for data directory data.
func (x Index) Location(data string) string {
	if x.Dir != "" {
		return x.Dir
	}
	return filepath.Join(data, "index")
}

// Search is `kansa search` and GET /v1/events.
type Search struct {
	// TimeZone reads dates without an offset in queries (created:2024-08-01).
	// Default UTC.
	TimeZone string `yaml:"time_zone"`
}

// Defaults returns the config used when no file is given.
func Defaults() Config {
	return Config{
		Data:   "./kansa-data",
		Tenant: "default",
		Server: Server{Listen: "127.0.0.1:7700", MaxBodyBytes: 32 << 20, ShutdownGrace: 30 * time.Second, Source: "http"},
		WAL:    WAL{SegmentBytes: 64 << 20, MaxBytes: 2 << 30, WhenFull: "block"},
		Batch:  Batch{MaxBytes: 10 << 20, MaxInterval: 300 * time.Second},
		Archive: Archive{Prefix: archive.DefaultPrefix, ErrorPrefix: archive.DefaultErrorPrefix,
			TimeZone: "UTC", GzipLevel: 1, Formats: []string{"ndjson"}, ParquetPrefix: archive.DefaultParquetPrefix},
		Route:       RouteMode{Source: "stdin", AppOutput: "stdout", MaxLineBytes: 4 << 20},
		Index:       Index{MaxInterval: time.Second, CacheBytes: index.DefaultCacheBytes, LineCacheBytes: index.DefaultCacheBytes},
		Checkpoints: Checkpoints{Interval: 5 * time.Minute},
	}
}

// Load reads path over the defaults. path "" gives the defaults.
func Load(path string) (Config, error) {
	cfg := Defaults()
	if path == "" {
		return cfg, cfg.Validate()
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := decode(&cfg, data); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config %s: %w", path, err)
	}
	return cfg, nil
}

var unknownField = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\S+)`)

func decode(cfg *Config, data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if errors.Is(err, io.EOF) {
		return nil // an empty file
	}
	if err != nil {
		// Say it in the user's words, not the YAML library's: one line per
		// problem, "unknown key", durations with units.
		var msgs []string
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs = te.Errors
		} else {
			msgs = []string{strings.TrimPrefix(err.Error(), "yaml: ")}
		}
		for i, m := range msgs {
			m = unknownField.ReplaceAllStringFunc(m, func(m string) string {
				sub := unknownField.FindStringSubmatch(m)
				return fmt.Sprintf("line %s: unknown key %q", sub[1], sub[2])
			})
			if strings.Contains(m, "time.Duration") {
				m = badDuration.ReplaceAllString(m, "$1: $2 is not a duration; give a unit, such as 300s or 5m")
			}
			msgs[i] = m
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return nil
}

var badDuration = regexp.MustCompile(`(line \d+): cannot unmarshal !!\w+ ` + "`" + `([^` + "`" + `]*)` + "`" + ` into time.Duration`)

// Validate checks values that decoding cannot.
func (c *Config) Validate() error {
	switch c.WAL.WhenFull {
	case "block", "drop":
	default:
		return fmt.Errorf("wal.when_full: %q (want block or drop)", c.WAL.WhenFull)
	}
	switch c.Route.AppOutput {
	case "stdout":
	case "file":
		if c.Route.AppFile == "" {
			return errors.New("route.app_file: required when route.app_output is file")
		}
	default:
		return fmt.Errorf("route.app_output: %q (want stdout or file)", c.Route.AppOutput)
	}
	if c.WAL.MaxBytes > 0 && c.WAL.MaxBytes < 2*c.WAL.SegmentBytes {
		return fmt.Errorf("wal.max_bytes (%d) must be at least twice wal.segment_bytes (%d)", c.WAL.MaxBytes, c.WAL.SegmentBytes)
	}
	if c.Batch.MaxInterval <= 0 || c.Batch.MaxBytes <= 0 {
		return errors.New("batch.max_bytes and batch.max_interval must be positive")
	}
	names := map[string]bool{}
	for _, in := range c.Inputs.PgAudit {
		if in.Name == "" || in.Dir == "" {
			return errors.New("inputs.pgaudit: each needs a name and a dir")
		}
		if names[in.Name] {
			return fmt.Errorf("inputs.pgaudit: two inputs named %q", in.Name)
		}
		names[in.Name] = true
		if _, err := pgaudit.ParseFormat(in.Format); err != nil {
			return fmt.Errorf("inputs.pgaudit %s: %w", in.Name, err)
		}
		if in.LogLinePrefix != "" {
			if _, err := pgaudit.ParsePrefix(in.LogLinePrefix); err != nil {
				return fmt.Errorf("inputs.pgaudit %s: %w", in.Name, err)
			}
		}
		if _, err := archive.LoadLocation(in.LogTimezone); err != nil {
			return fmt.Errorf("inputs.pgaudit %s: log_timezone: %w", in.Name, err)
		}
	}
	for _, in := range c.Inputs.Postgres {
		if in.Name == "" || in.DSN == "" || in.Publication == "" {
			return errors.New("inputs.postgres: each needs a name, a dsn and a publication")
		}
		if err := pgcdc.CheckDSN(in.DSN); err != nil {
			return fmt.Errorf("inputs.postgres %s: dsn: %w", in.Name, err)
		}
		if names["postgres:"+in.Name] {
			return fmt.Errorf("inputs.postgres: two inputs named %q", in.Name)
		}
		names["postgres:"+in.Name] = true
	}
	for i := range c.Inputs.CloudTrail {
		in := &c.Inputs.CloudTrail[i]
		if err := in.Check(); err != nil {
			if in.Name == "" {
				return fmt.Errorf("inputs.cloudtrail, entry %d: %w", i+1, err)
			}
			return fmt.Errorf("inputs.cloudtrail %s: %w", in.Name, err)
		}
		if names["cloudtrail:"+in.Name] {
			return fmt.Errorf("inputs.cloudtrail: two inputs named %q", in.Name)
		}
		names["cloudtrail:"+in.Name] = true
	}
	if c.Archive.RetentionDays < 0 {
		return errors.New("archive.retention_days must be 0 (keep everything) or positive")
	}
	if c.Checkpoints.Interval <= 0 {
		return errors.New("checkpoints.interval must be positive")
	}
	if c.Checkpoints.Dir != "" && c.Checkpoints.S3.Bucket != "" {
		return errors.New("checkpoints: give dir or s3.bucket, not both")
	}
	if c.Index.MaxInterval <= 0 || c.Index.CacheBytes <= 0 || c.Index.LineCacheBytes <= 0 {
		return errors.New("index.max_interval, index.cache_bytes and index.line_cache_bytes must be positive")
	}
	for _, f := range c.Archive.Formats {
		if f != "ndjson" && f != "parquet" {
			return fmt.Errorf("archive.formats: %q is not ndjson or parquet", f)
		}
	}
	if !slices.Contains(c.Archive.Formats, "ndjson") {
		return errors.New("archive.formats: must include ndjson (search reads it); add parquet beside it for query engines")
	}
	if c.Archive.Parquet() {
		if _, err := archive.ParseTemplate(c.Archive.ParquetPrefix); err != nil {
			return fmt.Errorf("archive.parquet_prefix: %w", err)
		}
		if c.Archive.ParquetPrefix == c.Archive.Prefix {
			return errors.New("archive.parquet_prefix: must differ from archive.prefix, or a query engine's table would read NDJSON files as Parquet")
		}
	}
	if m := int(c.Archive.MemberBytes); m != 0 && (m < archive.MinMemberBytes || m > archive.MaxMemberBytes) {
		return fmt.Errorf("archive.member_bytes: %d is not %d (16 KiB) to %d (1 MiB)", m, archive.MinMemberBytes, archive.MaxMemberBytes)
	}
	if c.Archive.GzipLevel < 1 || c.Archive.GzipLevel > 9 {
		return fmt.Errorf("archive.gzip_level: %d is not 1 (fastest) to 9 (smallest)", c.Archive.GzipLevel)
	}
	if c.Server.MaxBodyBytes <= 0 {
		return errors.New("server.max_body_bytes must be positive")
	}
	if _, err := route.New(c.Routes); err != nil {
		return err
	}
	if _, err := archive.LoadLocation(c.Archive.TimeZone); err != nil {
		return fmt.Errorf("archive.time_zone: %w", err)
	}
	if _, err := archive.LoadLocation(c.Search.TimeZone); err != nil {
		return fmt.Errorf("search.time_zone: %w", err)
	}
	for name, p := range map[string]string{"archive.prefix": c.Archive.Prefix, "archive.error_prefix": c.Archive.ErrorPrefix} {
		if _, err := archive.ParseTemplate(p); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// ByteSize is a number of bytes, written as an integer or with a unit:
// 10MB, 64MiB, 1GiB, 512KB.
type ByteSize int64

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}

// ParseByteSize parses "10MB", "64MiB", "1048576".
func ParseByteSize(s string) (ByteSize, error) {
	s = strings.TrimSpace(s)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			n, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), 64)
			if err != nil || n < 0 {
				return 0, fmt.Errorf("size %q: want a number and a unit such as 10MB or 64MiB", s)
			}
			return ByteSize(n * float64(u.mult)), nil
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want bytes or a number with a unit such as 10MB or 64MiB", s)
	}
	return ByteSize(n), nil
}

// UnmarshalYAML reads an integer or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = v
	return nil
}
