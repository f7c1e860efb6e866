package sqlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/parquetfile"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/wal"
)

// Engine answers SQL over one data directory's events.
type Engine struct {
	Store objstore.Store
	// Archive is the archive's layout (prefix, Parquet prefix, time zone);
	// Parquet files made for a query use the same one.
	Archive archive.Config
	// Writer is this node's writer id: its batches above Delivered are
	// read from the WAL, not from the archive.
	Writer    string
	WAL       *wal.WAL      // nil: no WAL tail
	Delivered func() uint64 // the archive's checkpoint
	// CacheDir keeps the Parquet twins made for batches archived without
	// a local one (archive.formats without parquet, or an S3 store),
	// made on the first query that needs them and kept: archived batches
	// do not change.
	CacheDir string
	// TempDir is where each query's directory (the WAL tail as Parquet)
	// is made and removed; default os.TempDir().
	TempDir string

	sweep sync.Once // of twins a crashed process left half made
}

// snapshot is what one query reads: Parquet files, with the tenant each
// holds, and the directory to remove afterwards.
type snapshot struct {
	files     []archive.File // Key is an absolute path
	tmp       string
	parts     []archive.Partition
	prefix    string
	hasTenant bool
}

func (s *snapshot) close() {
	if s.tmp != "" {
		os.RemoveAll(s.tmp)
	}
}

// restrict keeps the files of tenants; with no tenants, all of them.
func (s *snapshot) restrict(tenants []string) error {
	if len(tenants) == 0 {
		return nil
	}
	if !s.hasTenant {
		return fmt.Errorf("%w: archive.parquet_prefix %q has no ${tenant} partition, so one tenant's events cannot be kept apart by file", ErrRefused, s.prefix)
	}
	s.files = slices.DeleteFunc(s.files, func(f archive.File) bool {
		t := f.Tenant
		if t == "" {
			t = event.DefaultTenant
		}
		return !slices.Contains(tenants, t)
	})
	return nil
}

// snapshot gathers the Parquet files of every event durable when it
// starts: the archived batches' (their own files when the store is a
// local directory and the batch has them, else the cached twins), and the
// WAL records above the archive's checkpoint, written as Parquet into a
// directory of this query. Each event is in exactly one file.
func (e *Engine) snapshot(ctx context.Context) (*snapshot, error) {
	prefix := e.Archive.ParquetPrefix
	if prefix == "" {
		prefix = archive.DefaultParquetPrefix
	}
	tmpl, err := archive.ParseTemplate(prefix)
	if err != nil {
		return nil, err
	}
	_, parts, err := tmpl.Partitions()
	if err != nil {
		return nil, err
	}
	_, hasTenant, _, _ := tmpl.Uses()
	var lastErr error
	for range 5 {
		s := &snapshot{parts: parts, prefix: prefix, hasTenant: hasTenant}
		err := e.gather(ctx, s)
		if err == nil {
			return s, nil
		}
		s.close()
		if !errors.Is(err, wal.ErrReleased) {
			return nil, err
		}
		lastErr = err // the checkpoint moved on while we read: again
	}
	return nil, fmt.Errorf("sql: the archive kept moving under the query: %w", lastErr)
}

func (e *Engine) gather(ctx context.Context, s *snapshot) error {
	var delivered uint64
	if e.Delivered != nil {
		delivered = e.Delivered()
	}
	// The WAL tail first: records released while it is read are in the
	// archive, but their manifests may be skipped below, so a release
	// means starting again.
	var tail []record.Entry
	var first, last uint64
	if e.WAL != nil {
		err := e.WAL.Scan(delivered+1, func(idx uint64, rec []byte) error {
			if first == 0 {
				first = idx
			}
			last = idx
			if record.TypeOf(rec) != record.TypeEvent {
				return nil
			}
			en, err := record.ParseEntry(rec)
			if err != nil {
				return err
			}
			en.Tenant, en.Source, en.Stream, en.Body = slices.Clone(en.Tenant), slices.Clone(en.Source), slices.Clone(en.Stream), slices.Clone(en.Body)
			tail = append(tail, en)
			return nil
		})
		if err != nil {
			return err
		}
	}
	var local string
	if d, ok := e.Store.(*objstore.Dir); ok {
		local = d.Root()
	}
	err := archive.Manifests(ctx, e.Store, func(m *archive.Manifest) error {
		if e.WAL != nil && m.Writer == e.Writer && m.Last > delivered {
			return nil // in the tail
		}
		if m.Events == 0 {
			return nil
		}
		var own []archive.File
		for _, f := range m.Files {
			if f.Kind == "events" && f.Format == archive.FormatParquet {
				f.Key = filepath.Join(local, filepath.FromSlash(f.Key))
				own = append(own, f)
			}
		}
		if local != "" && len(own) > 0 {
			s.files = append(s.files, own...)
			return nil
		}
		twins, err := e.twins(ctx, m)
		if err != nil {
			return fmt.Errorf("sql: Parquet for batch %s %d-%d: %w", m.Writer, m.First, m.Last, err)
		}
		s.files = append(s.files, twins...)
		return nil
	})
	if err != nil {
		return err
	}
	if len(tail) > 0 {
		if s.tmp, err = mkdirTemp(e.TempDir); err != nil {
			return err
		}
		files, err := e.writeParquet(ctx, s.tmp, "wal", &archive.Batch{First: first, Last: last, Entries: tail})
		if err != nil {
			return fmt.Errorf("sql: the WAL tail as Parquet: %w", err)
		}
		s.files = append(s.files, files...)
	}
	return nil
}

// writeParquet writes b as Parquet files under dir, in the archive's
// layout, and returns them with absolute paths as keys.
func (e *Engine) writeParquet(ctx context.Context, dir, writer string, b *archive.Batch) ([]archive.File, error) {
	st, err := objstore.NewDir(dir)
	if err != nil {
		return nil, err
	}
	cfg := e.Archive
	cfg.Parquet = true
	w, err := archive.NewWriter(cfg, st, writer)
	if err != nil {
		return nil, err
	}
	files, err := w.WriteParquet(ctx, b)
	if err != nil {
		return nil, err
	}
	out := files[:0]
	for _, f := range files {
		if f.Kind == "events" && f.Format == archive.FormatParquet {
			f.Key = filepath.Join(dir, filepath.FromSlash(f.Key))
			out = append(out, f)
		}
	}
	return out, nil
}

// twins returns the cached Parquet files of batch m, making them from its
// gzip NDJSON files first if needed. A batch's twins are made in a
// directory of their own and renamed into place whole, with a list of
// them, so a crash leaves either all of them or none.
func (e *Engine) twins(ctx context.Context, m *archive.Manifest) ([]archive.File, error) {
	if e.CacheDir == "" {
		return nil, errors.New("no cache directory for Parquet twins")
	}
	name := fmt.Sprintf("%s-%020d-%020d", m.Writer, m.First, m.Last)
	dir := filepath.Join(e.CacheDir, name)
	list := filepath.Join(dir, "files.json")
	var files []archive.File
	if b, err := os.ReadFile(list); err == nil {
		if err := json.Unmarshal(b, &files); err != nil {
			return nil, fmt.Errorf("%s: %w (remove %s to have it made again)", list, err, dir)
		}
		for i := range files {
			files[i].Key = filepath.Join(dir, filepath.FromSlash(files[i].Key))
		}
		return files, nil
	}
	if err := os.MkdirAll(e.CacheDir, 0o755); err != nil {
		return nil, err
	}
	e.sweep.Do(func() {
		// A process that stopped while making twins left their directory;
		// one still being made by a running query is younger than an hour.
		old, _ := filepath.Glob(filepath.Join(e.CacheDir, ".making-*"))
		for _, d := range old {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(d)
			}
		}
	})
	tmp, err := os.MkdirTemp(e.CacheDir, ".making-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	b := &archive.Batch{First: m.First, Last: m.Last}
	for _, f := range m.Files {
		if f.Kind != "events" || f.Format != archive.FormatNDJSON {
			continue
		}
		err := archive.ReadLines(ctx, e.Store, f.Key, func(l []byte) error {
			ev, err := event.Decode(l)
			if err != nil {
				return err
			}
			ev.Normalize()
			en := record.Entry{Type: record.TypeEvent, Time: ev.Time.UnixMicro(), Tenant: []byte(ev.Tenant),
				Source: []byte(ev.Source), Body: slices.Clone(l)}
			b.Entries = append(b.Entries, en)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Key, err)
		}
	}
	made, err := e.writeParquet(ctx, tmp, m.Writer, b)
	if err != nil {
		return nil, err
	}
	rel := make([]archive.File, len(made))
	for i, f := range made {
		r, err := filepath.Rel(tmp, f.Key)
		if err != nil {
			return nil, err
		}
		f.Key = filepath.ToSlash(r)
		rel[i] = f
	}
	data, err := json.Marshal(rel)
	if err != nil {
		return nil, err
	}
	if err := objstore.WriteFile(filepath.Join(tmp, "files.json"), data); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		if _, serr := os.Stat(list); serr == nil {
			return e.twins(ctx, m) // made by a query at the same time
		}
		return nil, err
	}
	for i := range rel {
		rel[i].Key = filepath.Join(dir, filepath.FromSlash(rel[i].Key))
	}
	return rel, nil
}

// emptyParquet writes a Parquet file with the events' columns and no rows
// into dir, for a query over no files.
func emptyParquet(dir string) (string, error) {
	f, err := os.CreateTemp(dir, "empty-*.parquet")
	if err != nil {
		return "", err
	}
	if _, err := parquetfile.Write(f, nil, parquetfile.Options{}); err != nil {
		f.Close()
		return "", err
	}
	return f.Name(), f.Close()
}

// mkdirTemp makes a query's directory under dir (os.TempDir() if empty).
func mkdirTemp(dir string) (string, error) { return os.MkdirTemp(dir, "kansa-sql-") }
