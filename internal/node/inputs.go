package node

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/input"
	"github.com/kansa-audit/kansa/internal/input/cloudtrail"
	"github.com/kansa-audit/kansa/internal/input/pgaudit"
	"github.com/kansa-audit/kansa/internal/input/pgcdc"
	"github.com/kansa-audit/kansa/internal/rawjson"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/wal"
)

// inputs are the inputs kansa serve runs beside HTTP: pgAudit tailers,
// change capture, CloudTrail.
type inputs struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// runner is an input's loop.
type runner interface {
	Run(ctx context.Context) error
	Source() string
}

// StartInputs starts the configured inputs (inputs.pgaudit,
// inputs.postgres, inputs.cloudtrail) after Start. Shutdown stops them before the final batch.
func (n *Node) StartInputs() error {
	var tailers []runner
	for _, c := range n.Config.Inputs.PgAudit {
		loc, err := archive.LoadLocation(c.LogTimezone)
		if err != nil {
			return err
		}
		t, err := pgaudit.NewTailer(c, n.Config.Tenant, filepath.Join(n.Dir, "inputs"), &ingestAppender{in: n.Ingest},
			n.Log.With("input", "pgaudit:"+c.Name), loc)
		if err != nil {
			return err
		}
		tailers = append(tailers, t)
	}
	for _, c := range n.Config.Inputs.Postgres {
		in, err := pgcdc.New(c, n.Config.Tenant, filepath.Join(n.Dir, "inputs"), &ingestAppender{in: n.Ingest}, n.Log.With("input", "pgcdc:"+c.Name))
		if err != nil {
			return err
		}
		in.LastInWAL = func() (string, error) { return n.lastOrigin(in.Source(), "end_lsn") }
		n.Metrics.Gauge("kansa_pgcdc_slot_lag_bytes", "WAL the input's replication slot holds back on the database server (-1: not measured yet).",
			func() float64 { return float64(in.Lag()) }, "input", in.Source())
		tailers = append(tailers, in)
	}
	for _, c := range n.Config.Inputs.CloudTrail {
		in, err := cloudtrail.New(context.Background(), c, n.Config.Tenant, filepath.Join(n.Dir, "inputs"), &ingestAppender{in: n.Ingest}, n.Log.With("input", "cloudtrail:"+c.Name))
		if err != nil {
			return fmt.Errorf("inputs.cloudtrail %s: %w", c.Name, err)
		}
		in.Files = n.Metrics.Counter("kansa_cloudtrail_files_total", "CloudTrail log files read and made durable (polling also counts those it gives up), by input.", "input", in.Source())
		tailers = append(tailers, in)
	}
	if len(tailers) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.inputs.cancel = cancel
	for _, t := range tailers {
		n.inputs.wg.Go(func() {
			// An input that fails (a log directory not readable yet) is
			// started again, backing off to a minute.
			wait := time.Second
			for {
				err := t.Run(ctx)
				if ctx.Err() != nil {
					return
				}
				n.Log.Error("input failed; starting it again", "input", t.Source(), "err", err, "in", wait)
				select {
				case <-ctx.Done():
					return
				case <-time.After(wait):
				}
				wait = min(2*wait, time.Minute)
			}
		})
	}
	return nil
}

// lastOrigin returns origin[key] of the newest event of source still in
// the WAL, or "".
func (n *Node) lastOrigin(source, key string) (string, error) {
	var last string
	err := n.WAL.Scan(n.WAL.First(), func(_ uint64, rec []byte) error {
		if record.TypeOf(rec) != record.TypeEvent {
			return nil
		}
		e, err := record.ParseEntry(rec)
		if err != nil || string(e.Source) != source {
			return err
		}
		if o, ok := rawjson.Get(e.Body, "origin"); ok {
			if v, ok := rawjson.Get(o, key); ok {
				if s, err := rawjson.Text(v); err == nil {
					last = s
				}
			}
		}
		return nil
	})
	if errors.Is(err, wal.ErrReleased) {
		err = nil
	}
	return last, err
}

// stopInputs ends the inputs and waits for them.
func (n *Node) stopInputs() {
	if n.inputs.cancel != nil {
		n.inputs.cancel()
		n.inputs.wg.Wait()
	}
}

// ingestAppender is input.Appender over the node's Ingester: inputs
// that follow files wait for room in the WAL (the file keeps what waits).
type ingestAppender struct {
	in  *Ingester
	buf []byte
}

func (a *ingestAppender) Append(ctx context.Context, evs []*event.Event, bad []input.Bad, source, tenant string, received time.Time) (uint64, error) {
	recs := make([][]byte, 0, len(evs)+len(bad))
	a.buf = a.buf[:0]
	var ends []int
	for _, ev := range evs {
		a.buf = AppendEvent(a.buf, ev, received)
		ends = append(ends, len(a.buf))
	}
	for _, b := range bad {
		a.buf = a.in.AppendReject(a.buf, b.Err, b.Line, source, tenant, received)
		ends = append(ends, len(a.buf))
	}
	start := 0
	for _, end := range ends {
		recs = append(recs, a.buf[start:end])
		start = end
	}
	return a.in.Append(ctx, recs, Block)
}

func (a *ingestAppender) Sync(ctx context.Context, last uint64, events int) error {
	return a.in.Sync(ctx, last, events)
}
