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
)

func runReindex(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("reindex", stderr)
	var c common
	c.register(fs)
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{2, fmt.Errorf("usage: kansa reindex [--data DIR] [--config FILE] (rebuilds the search index from the archive)")}
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
	b, err := index.NewBuilder(building, index.Options{CacheBytes: int64(cfg.Index.CacheBytes)}, index.BuildOptions{})
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			b.Abort()
		}
	}()

	start := time.Now()
	var files, lines int
	var chunk [][]byte
	progress := time.Now()
	err = archive.Manifests(ctx, store, func(m *archive.Manifest) error {
		for _, f := range m.Files {
			if f.Kind != "events" || f.Format != archive.FormatNDJSON {
				continue
			}
			// The builder copies the lines; each is valid only during the
			// callback, so hand them over one file at a time at most.
			err := archive.ReadLines(ctx, store, f.Key, func(l []byte) error {
				chunk = append(chunk[:0], l)
				lines++
				return b.Add(chunk)
			})
			if err != nil {
				return fmt.Errorf("%s: %w", f.Key, err)
			}
			files++
			if time.Since(progress) > 5*time.Second {
				progress = time.Now()
				fmt.Fprintf(stderr, "reindex: %d events from %d files (%.0f events/s)\n", lines, files, float64(lines)/time.Since(start).Seconds())
			}
		}
		return nil
	})
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
	fmt.Fprintf(stdout, "index rebuilt from %s: %d events from %d files in %s (%.0f events/s)\n",
		store, lines, files, d.Round(time.Millisecond), float64(lines)/d.Seconds())
	if !cfg.Index.Enabled {
		fmt.Fprintln(stdout, "index.enabled is false in this config: kansa serve will not keep the index up to date")
	}
	return nil
}
