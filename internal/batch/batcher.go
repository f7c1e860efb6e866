package batch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/metrics"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/wal"
)

// Defaults for Config, the Firehose buffering users have now.
const (
	DefaultMaxBytes    = 10 << 20
	DefaultMaxInterval = 300 * time.Second
)

// Config is the batch section of the config file.
type Config struct {
	// MaxBytes closes a batch once its records' bytes reach it. 0 means 10 MB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxInterval closes a batch once its oldest record has waited this
	// long. 0 means 300s.
	MaxInterval time.Duration `yaml:"max_interval"`
}

// Deliverer stores one batch. Deliver must be idempotent: the same batch
// delivered twice leaves the same result. It may be called again for a batch
// after an error or a crash. *archive.Writer is one.
type Deliverer interface {
	Write(ctx context.Context, b *archive.Batch) (*archive.Manifest, error)
}

// Batcher is the batch stage for one sink. Run it once; Stop ends it.
type Batcher struct {
	name string
	cfg  Config
	w    *wal.WAL
	dst  Deliverer
	ckpt string
	// release frees WAL records once delivered (Deps.Release).
	release func(uint64) error
	log     *slog.Logger
	now     func() time.Time
	stop    chan struct{}
	done    chan struct{}
	stopMu  sync.Once

	mu        sync.Mutex
	delivered uint64        // last WAL index delivered and checkpointed
	changed   chan struct{} // closed and replaced when delivered moves

	mBatches, mEvents, mRejects, mFailures *metrics.Counter
	lastOK                                 time.Time
}

// Deps are what a Batcher needs besides its config.
type Deps struct {
	Name     string // the sink's name, recorded in Batch records ("archive")
	WAL      *wal.WAL
	Dst      Deliverer
	StateDir string // where the checkpoint file lives
	Logger   *slog.Logger
	Metrics  *metrics.Registry
	// Release is called with the last WAL index delivered, after its
	// checkpoint is saved. Default: WAL.Release. With several sinks on
	// one WAL, it releases only what every sink has delivered.
	Release func(idx uint64) error
}

// New loads the sink's checkpoint and returns a Batcher.
func New(cfg Config, d Deps) (*Batcher, error) {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.MaxInterval == 0 {
		cfg.MaxInterval = DefaultMaxInterval
	}
	if cfg.MaxBytes < 0 || cfg.MaxInterval < 0 {
		return nil, errors.New("batch: max_bytes and max_interval must be positive")
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = metrics.NewRegistry()
	}
	if d.Release == nil {
		d.Release = d.WAL.Release
	}
	b := &Batcher{name: d.Name, cfg: cfg, w: d.WAL, dst: d.Dst, release: d.Release, log: d.Logger.With("sink", d.Name),
		ckpt: filepath.Join(d.StateDir, d.Name+".checkpoint"), now: time.Now,
		stop: make(chan struct{}), done: make(chan struct{}), changed: make(chan struct{})}
	var err error
	if b.delivered, err = loadCheckpoint(b.ckpt); err != nil {
		return nil, err
	}
	if first := d.WAL.First(); first > 0 && b.delivered+1 < first {
		// Records below First were released, which happens only after they
		// were delivered; a checkpoint behind them was lost with its disk.
		b.log.Warn("checkpoint is behind the WAL; resuming at the WAL's first record", "checkpoint", b.delivered, "wal_first", first)
		b.delivered = first - 1
	}
	l := []string{"sink", d.Name}
	b.mBatches = d.Metrics.Counter("kansa_sink_batches_total", "Batches delivered.", l...)
	b.mEvents = d.Metrics.Counter("kansa_archived_events_total", "Events delivered to the archive.", l...)
	b.mRejects = d.Metrics.Counter("kansa_archived_rejects_total", "Rejected records delivered to the error output.", l...)
	b.mFailures = d.Metrics.Counter("kansa_sink_failures_total", "Failed delivery attempts (retried).", l...)
	d.Metrics.Gauge("kansa_sink_lag_records", "WAL records durable but not yet delivered.", func() float64 {
		return float64(d.WAL.Synced() - min(d.WAL.Synced(), b.Delivered()))
	}, l...)
	d.Metrics.Gauge("kansa_sink_last_success_timestamp_seconds", "When the last batch was delivered.", func() float64 {
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.lastOK.IsZero() {
			return 0
		}
		return float64(b.lastOK.UnixMilli()) / 1000
	}, l...)
	return b, nil
}

// Delivered returns the last WAL index whose batch is delivered.
func (b *Batcher) Delivered() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.delivered
}

// WaitDelivered blocks until every WAL index <= idx is delivered, or ctx is
// done, or the Batcher has ended.
func (b *Batcher) WaitDelivered(ctx context.Context, idx uint64) error {
	for {
		b.mu.Lock()
		ok, ch := b.delivered >= idx, b.changed
		b.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-b.done:
			b.mu.Lock()
			ok := b.delivered >= idx
			b.mu.Unlock()
			if ok {
				return nil
			}
			return errors.New("batcher stopped before the records were delivered")
		}
	}
}

// Stop asks Run to deliver every record that is durable now, as a final
// batch, and return. It does not wait; Run's return does.
func (b *Batcher) Stop() { b.stopMu.Do(func() { close(b.stop) }) }

type pending struct {
	first, last uint64   // WAL range; first is fixed when the batch starts
	recs        [][]byte // event and reject records, aliasing buf
	idx         []uint64 // the WAL index of each record
	bytes       int64
	since       time.Time
	blocks      [][]byte // backing store for recs, in fixed-size blocks
	used        int      // blocks[:used] hold records of this batch
}

// deadline is the open batch's due time as a context, made once per batch.
type deadline struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func (d *deadline) get(base context.Context, at time.Time) context.Context {
	if d.ctx == nil {
		d.ctx, d.cancel = context.WithDeadline(base, at)
	}
	return d.ctx
}

func (d *deadline) clear() {
	if d.cancel != nil {
		d.cancel()
	}
	d.ctx, d.cancel = nil, nil
}

// blockSize is the unit in which a pending batch holds its records. Fixed
// blocks, rather than one growing buffer, keep a 10 MB batch from ever being
// copied as a whole: such a copy cannot be preempted and would stall every
// goroutine at the next garbage-collection stop.
const blockSize = 1 << 20

// copy stores rec in the pending blocks and returns the stored copy.
func (p *pending) copy(rec []byte) []byte {
	if p.used == 0 || len(p.blocks[p.used-1])+len(rec) > cap(p.blocks[p.used-1]) {
		if p.used < len(p.blocks) && cap(p.blocks[p.used]) >= len(rec) {
			p.blocks[p.used] = p.blocks[p.used][:0]
		} else {
			blk := make([]byte, 0, max(blockSize, len(rec)))
			if p.used < len(p.blocks) {
				p.blocks[p.used] = blk
			} else {
				p.blocks = append(p.blocks, blk)
			}
		}
		p.used++
	}
	b := &p.blocks[p.used-1]
	start := len(*b)
	*b = append(*b, rec...)
	return (*b)[start:len(*b):len(*b)]
}

// reset empties the batch, keeping a few blocks for the next one.
func (p *pending) reset() {
	clear(p.recs)
	p.recs, p.idx, p.bytes = p.recs[:0], p.idx[:0], 0
	const keep = 16
	for i := range p.blocks {
		if i >= keep || cap(p.blocks[i]) > blockSize {
			p.blocks[i] = nil
		}
	}
	p.blocks = p.blocks[:min(len(p.blocks), keep)]
	for i, b := range p.blocks {
		if b == nil {
			p.blocks = p.blocks[:i]
			break
		}
	}
	p.used = 0
}

// Run delivers batches until Stop or ctx is done. After Stop it drains what
// is durable and returns nil once delivered; when ctx is done it returns
// ctx.Err() without cutting a new batch (undelivered records stay in the WAL
// and are delivered by the next run).
//
// One batch is delivered while the next one fills: the Deliverer's work
// (compression, hashing, uploads) overlaps with reading the WAL and with
// the fsyncs around each batch. Batches are still delivered one at a time
// and in order, each handed over only once the one before it is delivered
// and checkpointed.
func (b *Batcher) Run(ctx context.Context) (err error) {
	defer close(b.done)
	cut, err := b.knownBoundaries()
	if err != nil {
		return err
	}
	// A failed delivery ends ctx, so that a Run waiting on the WAL stops
	// and returns the delivery's error.
	outer := ctx
	ctx, cancelRun := context.WithCancel(outer)
	defer cancelRun()
	fl := &flight{}
	defer func() {
		if ferr := fl.wait(); ferr != nil {
			err = ferr
		}
	}()
	next := b.Delivered() + 1
	r := b.w.NewReader(next)
	defer r.Close()
	p, spare := &pending{first: next}, &pending{}
	// handoff starts delivering p's records as batch bt and makes spare,
	// free once the batch before it is delivered, the open batch.
	handoff := func(bt record.Batch) error {
		if err := fl.wait(); err != nil {
			return err
		}
		q := p
		fl.start(func() error {
			err := b.deliver(outer, q, bt)
			if err != nil {
				cancelRun()
			}
			return err
		})
		p, spare = spare, q
		p.reset()
		p.first, p.last = bt.Last+1, bt.Last
		return nil
	}
	stopping := false
	// waitBase ends when ctx does or Stop is called; the open batch's
	// deadline derives from it, once per batch rather than once per wait.
	waitBase, cancelBase := context.WithCancel(ctx)
	defer cancelBase()
	go func() {
		select {
		case <-b.stop:
			cancelBase()
		case <-waitBase.Done():
		}
	}()
	var due deadline
	defer due.clear()
	delivered := due.clear
	for {
		// Cut a batch whose boundary is already a fact.
		if len(cut) > 0 && p.last == cut[0].Last && p.last >= p.first {
			if err := handoff(cut[0]); err != nil {
				return err
			}
			delivered()
			cut = cut[1:]
			continue
		}
		if len(cut) == 0 && len(p.recs) > 0 {
			full := p.bytes >= b.cfg.MaxBytes
			old := b.now().Sub(p.since) >= b.cfg.MaxInterval
			caughtUp := p.last >= b.w.Synced()
			if full || old || (stopping && caughtUp) {
				if err := b.cut(ctx, p, handoff); err != nil {
					return err
				}
				delivered()
				continue
			}
		}
		if stopping && p.last >= b.w.Synced() && len(p.recs) == 0 && len(cut) == 0 {
			return nil
		}
		// Read the next record, waiting at most until the open batch is due.
		var idx uint64
		var rec []byte
		if p.last < b.w.Synced() || (len(cut) > 0 && p.last < cut[0].Last) {
			idx, rec, err = r.Next(ctx)
		} else {
			wctx := context.Context(waitBase)
			if len(p.recs) > 0 {
				wctx = due.get(waitBase, p.since.Add(b.cfg.MaxInterval))
			}
			idx, rec, err = r.Next(wctx)
			if err != nil && ctx.Err() == nil && !errors.Is(err, wal.ErrClosed) {
				if waitBase.Err() != nil {
					stopping = true
				}
				continue // the batch is due, or Stop was called
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, wal.ErrClosed) {
				stopping = true
				if len(p.recs) == 0 && len(cut) == 0 {
					return nil
				}
				continue
			}
			return fmt.Errorf("read WAL: %w", err)
		}
		p.last = idx
		if idx%1024 == 0 {
			runtime.Gosched() // background work: let acknowledgements run first
		}
		switch record.TypeOf(rec) {
		case record.TypeEvent, record.TypeReject:
			if len(p.recs) == 0 {
				p.since = b.now()
			}
			p.recs = append(p.recs, p.copy(rec))
			p.idx = append(p.idx, idx)
			p.bytes += int64(len(rec))
		case record.TypeBatch:
			// Boundaries are read up front by knownBoundaries.
		default:
			return fmt.Errorf("WAL record %d: unknown type %d", idx, rec[0])
		}
	}
}

// knownBoundaries returns the batches cut but not delivered, in order.
func (b *Batcher) knownBoundaries() ([]record.Batch, error) {
	done := b.Delivered()
	var cut []record.Batch
	err := b.w.Scan(done+1, func(idx uint64, rec []byte) error {
		if record.TypeOf(rec) != record.TypeBatch {
			return nil
		}
		bt, err := record.ParseBatch(rec)
		if err != nil {
			return fmt.Errorf("WAL record %d: %w", idx, err)
		}
		if bt.Sink == b.name && bt.Last > done {
			cut = append(cut, bt)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(cut) > 0 {
		b.log.Info("rebuilding batches cut before the last stop", "batches", len(cut), "first", cut[0].First, "last", cut[len(cut)-1].Last)
	}
	return cut, nil
}

// flight is the batch being delivered while the next one fills.
type flight struct{ done chan error }

func (f *flight) start(deliver func() error) {
	f.done = make(chan error, 1)
	go func() { f.done <- deliver() }()
}

// wait returns once no batch is being delivered, with the last one's
// error.
func (f *flight) wait() error {
	if f.done == nil {
		return nil
	}
	err := <-f.done
	f.done = nil
	return err
}

// cut records the open batch's boundary in the WAL, fsyncs it, and hands
// the batch over for delivery.
func (b *Batcher) cut(ctx context.Context, p *pending, handoff func(record.Batch) error) error {
	if err := ctx.Err(); err != nil {
		return err // ended, or the last delivery failed: cut nothing more
	}
	bt := record.Batch{Sink: b.name, First: p.first, Last: p.last, Closed: b.now().UTC().Truncate(time.Microsecond)}
	_, last, err := b.w.Append([][]byte{record.AppendBatch(nil, bt)})
	for errors.Is(err, wal.ErrFull) {
		// A boundary is tiny; wait for space like any writer would.
		if err = b.w.WaitSpace(ctx); err != nil {
			return err
		}
		_, last, err = b.w.Append([][]byte{record.AppendBatch(nil, bt)})
	}
	if err != nil {
		return fmt.Errorf("record batch boundary: %w", err)
	}
	if err := b.w.Sync(ctx, last); err != nil {
		return fmt.Errorf("record batch boundary: %w", err)
	}
	return handoff(bt)
}

// deliver writes the batch until it succeeds, then checkpoints.
func (b *Batcher) deliver(ctx context.Context, p *pending, bt record.Batch) error {
	ab := &archive.Batch{First: bt.First, Last: bt.Last, Closed: bt.Closed, Entries: make([]record.Entry, 0, len(p.recs)), Index: p.idx}
	for _, rec := range p.recs {
		ent, err := record.ParseEntry(rec)
		if err != nil {
			return fmt.Errorf("batch %d-%d: %w", bt.First, bt.Last, err)
		}
		ab.Entries = append(ab.Entries, ent)
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		m, err := b.dst.Write(ctx, ab)
		if err == nil {
			b.mBatches.Inc()
			b.mEvents.Add(uint64(m.Events))
			b.mRejects.Add(uint64(m.Rejects))
			b.log.Debug("batch delivered", "first", bt.First, "last", bt.Last, "events", m.Events, "rejects", m.Rejects, "files", len(m.Files))
			break
		}
		b.mFailures.Inc()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		sleep := backoff/2 + rand.N(backoff/2+1)
		b.log.Warn("batch delivery failed; retrying", "first", bt.First, "last", bt.Last, "attempt", attempt, "retry_in", sleep, "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	if err := saveCheckpoint(b.ckpt, bt.Last); err != nil {
		return err
	}
	b.mu.Lock()
	b.delivered = bt.Last
	b.lastOK = b.now()
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	if err := b.release(bt.Last); err != nil {
		b.log.Warn("release WAL segments", "err", err)
	}
	return nil
}

type checkpoint struct {
	Delivered uint64 `json:"delivered"`
}

// ReadCheckpoint returns the last WAL index sink name has delivered, from
// its checkpoint in stateDir (0 when there is none).
func ReadCheckpoint(stateDir, name string) (uint64, error) {
	return loadCheckpoint(filepath.Join(stateDir, name+".checkpoint"))
}

// WriteCheckpoint records that sink name has delivered every WAL index up
// to idx: for tools that deliver outside a running Batcher (kansa reindex).
func WriteCheckpoint(stateDir, name string, idx uint64) error {
	return saveCheckpoint(filepath.Join(stateDir, name+".checkpoint"), idx)
}

func loadCheckpoint(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint: %w", err)
	}
	var c checkpoint
	if err := json.Unmarshal(data, &c); err != nil {
		return 0, fmt.Errorf("checkpoint %s: %w (remove it to redeliver everything still in the WAL)", path, err)
	}
	return c.Delivered, nil
}

func saveCheckpoint(path string, idx uint64) error {
	data, _ := json.Marshal(checkpoint{Delivered: idx})
	if err := objstore.WriteFile(path, append(data, '\n')); err != nil {
		return fmt.Errorf("save checkpoint: %w", err)
	}
	return nil
}
