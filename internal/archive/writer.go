package archive

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"time"
	_ "time/tzdata" // time zones from the binary, so Asia/Tokyo works in a scratch container

	"github.com/klauspost/compress/gzip"

	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/rawjson"
	"github.com/kansa-audit/kansa/internal/record"
)

// Defaults for Config.
const (
	DefaultPrefix      = "tenant=!{tenant}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
	DefaultErrorPrefix = "errors/!{error_type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
	ManifestPrefix     = "_kansa/manifests/"
	ManifestVersion    = 1
)

// Config is the archive section of the config file.
type Config struct {
	// Prefix is the object-key template for events, in Firehose's
	// !{timestamp:…} syntax plus !{tenant} and !{source}.
	Prefix string `yaml:"prefix"`
	// ErrorPrefix is the template for records that could not become
	// events; !{error_type} names why (decode, map, invalid).
	ErrorPrefix string `yaml:"error_prefix"`
	// TimeZone is the IANA zone the templates' timestamps are read in
	// (default UTC), e.g. Asia/Tokyo.
	TimeZone string `yaml:"time_zone"`
	// GzipLevel is 1 (fastest) to 9 (smallest); 0 means 1.
	GzipLevel int `yaml:"gzip_level"`
}

// Writer writes batches to a store. It is safe for concurrent use.
type Writer struct {
	store     objstore.Store
	writer    string
	prefix    *Template
	errPrefix *Template
	loc       *time.Location
	level     int
}

// NewWriter checks cfg and returns a Writer for the collector writerID.
func NewWriter(cfg Config, store objstore.Store, writerID string) (*Writer, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.ErrorPrefix == "" {
		cfg.ErrorPrefix = DefaultErrorPrefix
	}
	w := &Writer{store: store, writer: writerID, level: cfg.GzipLevel}
	if w.level == 0 {
		w.level = gzip.BestSpeed
	}
	if w.level < 1 || w.level > 9 {
		return nil, fmt.Errorf("archive.gzip_level: %d is not 1..9", cfg.GzipLevel)
	}
	if writerID == "" || string(AppendEscaped(nil, writerID)) != writerID {
		return nil, fmt.Errorf("writer id %q: use letters, digits, '.', '_' and '-' only", writerID)
	}
	var err error
	if w.prefix, err = ParseTemplate(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("archive.prefix: %w", err)
	}
	if w.errPrefix, err = ParseTemplate(cfg.ErrorPrefix); err != nil {
		return nil, fmt.Errorf("archive.error_prefix: %w", err)
	}
	if w.loc, err = LoadLocation(cfg.TimeZone); err != nil {
		return nil, fmt.Errorf("archive.time_zone: %w", err)
	}
	return w, nil
}

// Store returns the store the writer writes to.
func (w *Writer) Store() objstore.Store { return w.store }

// Batch is one immutable range of WAL records to archive.
type Batch struct {
	First, Last uint64
	Closed      time.Time
	Entries     []record.Entry // events and rejects, in WAL order
}

// Manifest describes one written batch. Its JSON form is versioned.
type Manifest struct {
	Version  int       `json:"version"`
	Writer   string    `json:"writer"`
	First    uint64    `json:"first"`
	Last     uint64    `json:"last"`
	ClosedAt string    `json:"closed_at"`
	Events   int       `json:"events"`
	Rejects  int       `json:"rejects"`
	TimeMin  string    `json:"time_min,omitempty"`
	TimeMax  string    `json:"time_max,omitempty"`
	Seq      []SeqSpan `json:"seq,omitempty"`
	Files    []File    `json:"files"`
}

// SeqSpan summarises one producer stream within a batch.
type SeqSpan struct {
	Stream string `json:"stream"`
	Min    uint64 `json:"min"`
	Max    uint64 `json:"max"`
	Count  int    `json:"count"`
}

// File is one object written for a batch.
type File struct {
	Key     string `json:"key"`
	Kind    string `json:"kind"` // "events" or "rejects"
	Format  string `json:"format"`
	Records int    `json:"records"`
	Bytes   int    `json:"bytes"`
	SHA256  string `json:"sha256"`
	TimeMin string `json:"time_min"`
	TimeMax string `json:"time_max"`
	Tenant  string `json:"tenant,omitempty"`
}

// ManifestKey returns the manifest's key for a batch of writer.
func ManifestKey(writer string, first, last uint64) string {
	return fmt.Sprintf("%swriter=%s/%020d-%020d.json", ManifestPrefix, writer, first, last)
}

type fileBuf struct {
	kind     string
	tenant   string
	buf      bytes.Buffer
	gz       *gzip.Writer
	n        int
	min, max int64
}

// Write stores every object of b and then its manifest. It is idempotent:
// the same batch always produces the same keys and bytes.
func (w *Writer) Write(ctx context.Context, b *Batch) (*Manifest, error) {
	m := &Manifest{Version: ManifestVersion, Writer: w.writer, First: b.First, Last: b.Last,
		ClosedAt: b.Closed.UTC().Format(time.RFC3339Nano)}
	files := map[string]*fileBuf{}
	seqs := map[string]*SeqSpan{}
	var key []byte
	var tmin, tmax int64
	suffix := fmt.Sprintf("kansa-%s-%020d-%020d.ndjson.gz", w.writer, b.First, b.Last)
	var v Values // tenant and source strings are reused while they repeat
	for i := range b.Entries {
		if i%128 == 127 {
			// Compressing a batch is long, background work: yield often so
			// that goroutines waiting to acknowledge ingest get a core within
			// microseconds rather than at the scheduler's next 10 ms preemption.
			runtime.Gosched()
		}
		e := &b.Entries[i]
		v.Time = time.UnixMicro(e.Time).In(w.loc)
		if v.Tenant != string(e.Tenant) {
			v.Tenant = string(e.Tenant)
		}
		if v.Source != string(e.Source) {
			v.Source = string(e.Source)
		}
		v.ErrorType = ""
		kind := "events"
		tmpl := w.prefix
		if e.Type == record.TypeReject {
			kind, tmpl = "rejects", w.errPrefix
			v.ErrorType = rejectType(e.Body)
			m.Rejects++
		} else {
			m.Events++
			if m.Events == 1 || e.Time < tmin {
				tmin = e.Time
			}
			if m.Events == 1 || e.Time > tmax {
				tmax = e.Time
			}
			addSeq(seqs, e.Stream, e.N)
		}
		key = tmpl.Append(key[:0], &v)
		key = append(key, suffix...)
		f := files[string(key)]
		if f == nil {
			f = &fileBuf{kind: kind, min: e.Time, max: e.Time}
			if kind == "events" {
				f.tenant = v.Tenant
			}
			var err error
			if f.gz, err = gzip.NewWriterLevel(&f.buf, w.level); err != nil {
				return nil, err
			}
			files[string(key)] = f
		}
		f.min, f.max = min(f.min, e.Time), max(f.max, e.Time)
		f.n++
		f.gz.Write(e.Body)
		f.gz.Write(newline)
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f := files[k]
		if err := f.gz.Close(); err != nil {
			return nil, err
		}
		data := f.buf.Bytes()
		if err := w.store.Put(ctx, k, data); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		m.Files = append(m.Files, File{Key: k, Kind: f.kind, Format: "ndjson.gz", Records: f.n, Bytes: len(data),
			SHA256: hex.EncodeToString(sum[:]), TimeMin: formatMicros(f.min), TimeMax: formatMicros(f.max), Tenant: f.tenant})
	}
	if m.Events > 0 {
		m.TimeMin, m.TimeMax = formatMicros(tmin), formatMicros(tmax)
	}
	for _, s := range seqs {
		m.Seq = append(m.Seq, *s)
	}
	slices.SortFunc(m.Seq, func(a, b SeqSpan) int {
		if a.Stream < b.Stream {
			return -1
		}
		if a.Stream > b.Stream {
			return 1
		}
		return 0
	})
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.store.Put(ctx, ManifestKey(w.writer, b.First, b.Last), append(data, '\n')); err != nil {
		return nil, err
	}
	return m, nil
}

var newline = []byte{'\n'}

func formatMicros(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
}

// rejectType reads error_type from a reject's JSON body.
func rejectType(body []byte) string {
	if v, ok := rawjson.Get(body, "error_type"); ok {
		if s, err := rawjson.Text(v); err == nil && s != "" {
			return s
		}
	}
	return "unknown"
}

func addSeq(seqs map[string]*SeqSpan, stream []byte, n uint64) {
	if len(stream) == 0 {
		return
	}
	s := seqs[string(stream)]
	if s == nil {
		seqs[string(stream)] = &SeqSpan{Stream: string(stream), Min: n, Max: n, Count: 1}
		return
	}
	s.Min, s.Max = min(s.Min, n), max(s.Max, n)
	s.Count++
}
