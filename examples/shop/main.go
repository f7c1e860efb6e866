// Command shop is a small net/http + GORM + PostgreSQL service wired to
// kansa: a login and a CRUD resource whose every change, login and logout
// is recorded through the audit SDK and delivered to kansa serve.
//
//	DATABASE_URL   PostgreSQL (default postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)
//	KANSA_URL      kansa serve (default http://127.0.0.1:7700)
//	SHOP_LISTEN    where the shop listens (default 127.0.0.1:8080)
//	SHOP_SPOOL     the audit spool directory (default ./shop-audit-spool)
//
// See README.md for the one command that runs it with PostgreSQL and kansa.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := slog.New(slogHandler(os.Stderr))
	app, err := Open(Config{
		DatabaseURL: env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		KansaURL:    env("KANSA_URL", "http://127.0.0.1:7700"),
		SpoolDir:    env("SHOP_SPOOL", "shop-audit-spool"),
		Logger:      logger,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", env("SHOP_LISTEN", "127.0.0.1:8080"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("shop listening on http://%s (audit events to %s)\n", ln.Addr(), app.cfg.KansaURL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdown)
	// Closing the audit logger flushes the spool and delivers what kansa
	// takes within the deadline; the rest is sent at the next start.
	return errors.Join(err, app.Close(shutdown))
}
