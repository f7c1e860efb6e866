package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/batch"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/objstore"
)

func runReindex(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("reindex", stderr)
	var c common
	c.register(fs)
	ahead := fs.Int("ahead", 4, "archive files read ahead of the one being indexed (more for a distant bucket)")
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 || *ahead < 1 {
		return &exitError{2, fmt.Errorf("usage: kansa reindex [--data DIR] [--config FILE] [--ahead N] (rebuilds the search index from the archive)")}
	}
	dir, err := filepath.Abs(cfg.Data)
	if err != nil {
		return err
	}
	lock, err := node.Lock(dir)
	if err != nil {
		return fmt.Errorf("%w; stop it before rebuilding its index", err)
	}
	defer lock.Close()
	log := newLogger(stderr)
	store, err := node.OpenStore(cfg, dir, log)
	if err != nil {
		return err
	}
	// What the archive holds up to: the sink resumes from the WAL after it.
	stateDir := filepath.Join(dir, "sinks")
	archived, err := batch.ReadCheckpoint(stateDir, "archive")
	if err != nil {
		return err
	}

	final := cfg.Index.Location(dir)
	building := final + ".new"
	if err := os.RemoveAll(building); err != nil {
		return err
	}
	// References into small gzip members, as kansa serve keeps them.
	b, err := index.NewBuilder(building, index.Options{CacheBytes: int64(cfg.Index.CacheBytes)},
		index.BuildOptions{References: node.IndexByReference(cfg)})
	if err != nil {
		return err
	}
	b.SetNextWAL(archived + 1)
	done := false
	defer func() {
		if !done {
			b.Abort()
		}
	}()

	start := time.Now()
	var keys []string
	var records []int // each file's events, as its manifest counts them
	err = archive.Manifests(ctx, store, func(m *archive.Manifest) error {
		for _, f := range m.Files {
			if f.Kind == "events" && f.Format == archive.FormatNDJSON {
				keys = append(keys, f.Key)
				records = append(records, f.Records)
			}
		}
		return nil
	})
	var files, lines int
	progress := time.Now()
	if err == nil {
		// Files are read ahead of the builder, so that the store's latency
		// (a bucket's above all) overlaps with indexing.
		err = objstore.GetEach(ctx, store, keys, *ahead, func(key string, gz []byte) error {
			if err := b.AddFile(key, gz); err != nil {
				return err
			}
			lines += records[files] // fn is called in the order of keys
			files++
			if time.Since(progress) > 5*time.Second {
				progress = time.Now()
				fmt.Fprintf(stderr, "reindex: %d events from %d files (%.0f events/s)\n", lines, files, float64(lines)/time.Since(start).Seconds())
			}
			return nil
		})
	}
	if err == nil {
		err = b.Finish(ctx)
		done = true
	}
	if err != nil {
		return fmt.Errorf("reindex: %w (the old index, if any, is untouched)", err)
	}
	if err := os.RemoveAll(final); err != nil {
		return err
	}
	if err := os.Rename(building, final); err != nil {
		return err
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return err
	}
	if err := batch.WriteCheckpoint(stateDir, "index", archived); err != nil {
		return err
	}
	d := time.Since(start)
	fmt.Fprintf(stdout, "index rebuilt from %s: %d events from %d files in %s (%.0f events/s)",
		store, lines, files, d.Round(time.Millisecond), float64(lines)/d.Seconds())
	if n := b.ByReference(); n > 0 {
		fmt.Fprintf(stdout, "; %d kept by reference into the archive", n)
	}
	fmt.Fprintln(stdout)
	if !cfg.Index.Enabled {
		fmt.Fprintln(stdout, "index.enabled is false in this config: kansa search, history and counts will not read this index, nor kansa serve keep it up to date; set it in the file given with --config (index: {enabled: true})")
	}
	return nil
}
