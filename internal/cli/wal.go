package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/wal"
)

func runWAL(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "repair" {
		return &exitError{2, fmt.Errorf("usage: kansa wal repair [--data DIR] (cuts a damaged WAL at the damage; records after it are lost)")}
	}
	fs := newFlagSet("wal repair", stderr)
	var c common
	c.register(fs)
	cfg, err := c.parse(fs, args[1:])
	if err != nil {
		return err
	}
	lock, err := node.Lock(cfg.Data)
	if err != nil {
		return fmt.Errorf("%w; stop it before repairing the WAL", err)
	}
	defer lock.Close()
	w, err := wal.Open(filepath.Join(cfg.Data, "wal"), wal.Options{Repair: true, Logger: newLogger(stderr)})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "WAL records %d..%d intact\n", w.First(), w.Last())
	return w.Close()
}
