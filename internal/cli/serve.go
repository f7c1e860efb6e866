package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kansa-audit/kansa/internal/api"
	"github.com/kansa-audit/kansa/internal/node"
)

func runServe(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	var c common
	c.register(fs)
	listen := fs.String("listen", "", "HTTP `address` (default 127.0.0.1:7700, or server.listen in the config)")
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Server.Listen = *listen
	}
	log := newLogger(stderr)
	// Signals first: a supervisor may send SIGTERM as soon as it sees the
	// ready line, and that must mean a clean shutdown.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	// The address before the data directory: a busy port should not leave
	// a new, empty directory behind.
	tcp, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (set --listen to a free address)", cfg.Server.Listen, err)
	}
	n, err := node.Open(cfg, log)
	if err != nil {
		tcp.Close()
		if errors.Is(err, node.ErrLocked) {
			return fmt.Errorf("%w; stop the other kansa or pass a different --data", err)
		}
		return err
	}
	sock := node.SocketPath(n.Dir)
	os.Remove(sock) // stale from a killed server; we hold the directory lock
	unix, err := net.Listen("unix", sock)
	if err != nil {
		tcp.Close()
		n.Shutdown(context.Background())
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	if err := n.Start(); err != nil {
		n.Shutdown(context.Background())
		return err
	}
	if err := n.StartInputs(); err != nil {
		n.Shutdown(context.Background())
		return err
	}
	srv := &http.Server{Handler: api.New(n), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(tcp) }()
	go func() { errc <- srv.Serve(unix) }()
	log.Info("kansa serving", "listen", "http://"+tcp.Addr().String(), "data", n.Dir, "archive", n.Store.String(), "writer", n.WriterID, "socket", sock)
	fmt.Fprintf(stdout, "kansa listening on http://%s, data in %s\n", tcp.Addr(), n.Dir)

	var serveErr error
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String(), "grace", cfg.Server.ShutdownGrace)
	case serveErr = <-errc:
		log.Error("HTTP server stopped", "err", serveErr)
	case <-ctx.Done():
	}
	grace, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace)
	defer cancel()
	herr := srv.Shutdown(grace)
	nerr := n.Shutdown(grace)
	os.Remove(sock)
	if err := errors.Join(serveErr, herr, nerr); err != nil {
		return err
	}
	log.Info("stopped cleanly", "archived_through", n.Batcher.Delivered())
	return nil
}
