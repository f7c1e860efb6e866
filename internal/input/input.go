// Package input holds what the inputs that kansa serve runs beside HTTP
// share: the way they hand records to the node. Each input is a package
// below (pgaudit, pgcdc, …).
package input

import (
	"context"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
)

// Appender makes records durable (the node's Ingester behind it): events,
// and for each of bad a record of the error output. Inputs that follow a
// source that keeps what waits (a file, a replication slot) wait for room
// in the WAL.
type Appender interface {
	Append(ctx context.Context, events []*event.Event, bad []Bad, source, tenant string, received time.Time) (last uint64, err error)
	Sync(ctx context.Context, last uint64, events int) error
}

// Bad is a record that could not become an event, and why.
type Bad struct {
	Err  error
	Line []byte
}
