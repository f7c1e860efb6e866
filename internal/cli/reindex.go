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

// reindexChunk is how many events go into the index at a time.
const reindexChunk = 1 << 16

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
	x, err := index.Open(building, index.Options{CacheBytes: int64(cfg.Index.CacheBytes)})
	if err != nil {
		return err
	}
	defer func() {
		if x != nil {
			x.Close()
			os.RemoveAll(building)
		}
	}()

	start := time.Now()
	var files, lines, added int
	var chunk [][]byte
	var arena []byte
	flush := func() error {
		n, err := x.Add(chunk)
		added += n
		clear(chunk)
		chunk, arena = chunk[:0], nil
		return err
	}
	progress := time.Now()
	err = archive.Manifests(ctx, store, func(m *archive.Manifest) error {
		for _, f := range m.Files {
			if f.Kind != "events" || f.Format != archive.FormatNDJSON {
				continue
			}
			err := archive.ReadLines(ctx, store, f.Key, func(l []byte) error {
				// The line is valid only during the call: copy it into
				// blocks that the chunk's lines share.
				if cap(arena)-len(arena) < len(l) {
					arena = make([]byte, 0, max(1<<20, len(l)))
				}
				n := len(arena)
				arena = append(arena, l...)
				chunk = append(chunk, arena[n:len(arena):len(arena)])
				lines++
				if len(chunk) == reindexChunk {
					return flush()
				}
				return nil
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
	if err == nil && len(chunk) > 0 {
		err = flush()
	}
	if err != nil {
		return fmt.Errorf("reindex: %w (the old index, if any, is untouched)", err)
	}
	if err := x.Close(); err != nil {
		return err
	}
	x = nil
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
		store, added, files, d.Round(time.Millisecond), float64(lines)/d.Seconds())
	if !cfg.Index.Enabled {
		fmt.Fprintln(stdout, "index.enabled is false in this config: kansa serve will not keep the index up to date")
	}
	return nil
}
