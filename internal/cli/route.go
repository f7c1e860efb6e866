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

	"github.com/kansa-audit/kansa/internal/input/stdin"
	"github.com/kansa-audit/kansa/internal/node"
)

func runRoute(ctx context.Context, args []string, in io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("route", stderr)
	var c common
	c.register(fs)
	listen := fs.String("listen", "", "serve /metrics, /healthz and search (GET /v1/events) on this `address` while routing (default: only on the data directory's socket)")
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	log := newLogger(stderr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sig)
	app := stdout
	if cfg.Route.AppOutput == "file" {
		f, err := os.OpenFile(cfg.Route.AppFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("route.app_file: %w", err)
		}
		defer f.Close()
		app = f
	}
	n, err := node.Open(cfg, log)
	if err != nil {
		if errors.Is(err, node.ErrLocked) {
			return fmt.Errorf("%w; each route sidecar needs its own --data", err)
		}
		return err
	}
	// The data directory's socket, so that kansa search works while the
	// sidecar owns the directory.
	sock := node.SocketPath(n.Dir)
	os.Remove(sock) // stale from a killed process; we hold the directory lock
	unix, err := net.Listen("unix", sock)
	if err != nil {
		n.Shutdown(context.Background())
		return fmt.Errorf("listen on %s: %w", sock, err)
	}
	defer os.Remove(sock)
	srv := &http.Server{Handler: api.Sidecar(n), ReadHeaderTimeout: 10 * time.Second}
	defer srv.Close()
	go srv.Serve(unix)
	if err := n.Start(); err != nil {
		n.Shutdown(context.Background())
		return err
	}
	if *listen != "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			n.Shutdown(context.Background())
			return fmt.Errorf("--listen %s: %w", *listen, err)
		}
		go srv.Serve(ln)
		log.Info("metrics", "listen", "http://"+ln.Addr().String()+"/metrics")
	}
	policy := node.Block
	if cfg.WAL.WhenFull == "drop" {
		policy = node.Drop
	}

	// SIGTERM means "the application is stopping": keep reading until its
	// stream ends, for at most the grace period.
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		st  stdin.Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := stdin.Run(runCtx, stdin.Config{Source: cfg.Route.Source, Tenant: cfg.Tenant, Policy: policy,
			MaxLineBytes: int(cfg.Route.MaxLineBytes)}, in, app, n.Router, n.Ingest, n.Metrics)
		done <- result{st, err}
	}()
	var res result
	select {
	case res = <-done:
	case s := <-sig:
		log.Info("draining until end of input", "signal", s.String(), "grace", cfg.Server.ShutdownGrace)
		graceCtx, gcancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace)
		select {
		case res = <-done:
		case <-graceCtx.Done():
			res.err = errors.New("input did not end within the grace period; lines not yet read were not routed")
			cancel()
		}
		gcancel()
	}
	log.Info("input ended; delivering what is left to the archive", "wal_last", n.WAL.Last(), "archived_through", n.Batcher.Delivered())
	grace, gcancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace)
	defer gcancel()
	serr := n.Shutdown(grace)
	st := res.st
	archived := n.Batcher.Delivered()
	log.Info("route finished", "lines", st.Lines, "app", st.AppLines, "audit", st.AuditLines, "events", st.Events,
		"rejects", st.Rejects, "dropped", st.Dropped, "long_lines", st.LongLines, "archived_through", archived)
	if err := errors.Join(res.err, serr); err != nil {
		return &exitError{1, err}
	}
	if archived < st.LastIndex {
		return &exitError{1, fmt.Errorf("not every audit event reached the archive (archived through WAL record %d of %d); they stay in %s and are delivered at next start", archived, st.LastIndex, n.Dir)}
	}
	return nil
}
