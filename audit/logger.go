package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Config of a Logger. The zero value of every field but Output is a default.
type Config struct {
	// Output receives the encoded events: Stdout(), a file (OpenFile), a
	// Client for kansa serve, or a slog handler (NewSlogOutput).
	Output Output
	// Source names the producer, as "app:NAME". Default: "app:" and the
	// executable's base name.
	Source string
	// Tenant of events whose scope names none. Default: none written, so the
	// server's default tenant applies.
	Tenant string
	// Host written as context.host when the scope has none (a job, say).
	// Default: os.Hostname.
	Host string
	// QueueSize bounds the events recorded and waiting for the Logger's
	// goroutine (which may hold as many more, being written). Past it,
	// Record drops the event and counts it (Stats.Dropped): recording never
	// waits. Default 8192 (about 5 MiB at most).
	QueueSize int
	// SyncInterval is how often written events are made durable without a
	// Flush (the spool's fsync, a file's fsync). Default 200 ms.
	SyncInterval time.Duration
	// HeartbeatInterval is how often the stream's last number is sent, so
	// that a loss at the tail can be seen. Default 30 s; negative: only at
	// Close.
	HeartbeatInterval time.Duration
	// TraceID, when set, is asked for a trace id when the scope has none
	// (the OpenTelemetry adapter sets it).
	TraceID func(context.Context) string
	// Logger receives the SDK's own diagnostics: drops, delivery failures.
	// Default: slog.Default().
	Logger *slog.Logger
}

// A Logger records audit events. Record is safe for concurrent use and
// returns at once: a goroutine of the Logger encodes the events and hands
// them to the Output. Each Logger is one seq stream: every recorded event
// gets the next number of the stream, and heartbeats repeat the last one.
//
// Close it at shutdown; it flushes first.
type Logger struct {
	cfg    Config
	out    Output
	log    *slog.Logger
	stream string

	seq atomic.Uint64 // last number assigned
	// The queue: Record appends under qmu; the writer swaps it for its
	// spare slice and encodes the batch without the lock. signal (cap 1)
	// tells the writer the queue became non-empty.
	qmu    sync.Mutex
	queue  []entry
	closed bool // under qmu: no Record queues after Close
	signal chan struct{}
	sync   chan chan error
	done   chan struct{}
	quit   chan struct{}

	closeOnce sync.Once
	closeErr  error

	stats   counters
	drops   dropLog
	invalid dropLog
}

// entry is an event as Record leaves it for the writer goroutine.
type entry struct {
	ev    Event
	scope Scope
	n     uint64
	at    time.Time
	pcs   [16]uintptr // callers, when the scope names neither endpoint nor caller
	npcs  uint8
}

// New returns a Logger writing to cfg.Output.
func New(cfg Config) (*Logger, error) {
	if cfg.Output == nil {
		return nil, errors.New("audit: Config.Output is required (Stdout(), OpenFile, NewClient)")
	}
	if cfg.Source == "" {
		cfg.Source = "app:" + filepath.Base(os.Args[0])
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 8192
	}
	if cfg.SyncInterval <= 0 {
		cfg.SyncInterval = 200 * time.Millisecond
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Logger{
		cfg:    cfg,
		out:    cfg.Output,
		log:    cfg.Logger,
		stream: newStreamID(),
		signal: make(chan struct{}, 1),
		sync:   make(chan chan error),
		done:   make(chan struct{}),
		quit:   make(chan struct{}),
	}
	l.drops.log = cfg.Logger
	l.invalid.log, l.invalid.msg = cfg.Logger, "audit: events refused"
	go l.run()
	return l, nil
}

// Stream returns the id of the Logger's seq stream.
func (l *Logger) Stream() string { return l.stream }

// Record records e in the scope ctx carries. It never blocks and never
// fails the caller: an event that cannot be queued (the queue is full, or
// the Logger is closed) is dropped, counted in Stats.Dropped and logged,
// and its number is left unused so the loss shows downstream. An event
// without an Action is refused before it is numbered (Stats.Invalid, and
// a log line).
//
// The event is durable once Flush returns (or the Output made it durable
// by itself, within Config.SyncInterval).
func (l *Logger) Record(ctx context.Context, e Event) {
	if e.Action == "" {
		// A programming error, not a loss: counted and logged, and given
		// no number, so that it does not look like a gap downstream.
		l.stats.invalid.Add(1)
		l.invalid.note(0, "event without an Action")
		return
	}
	n := l.seq.Add(1)
	en := entry{ev: e, n: n}
	if f := frameFrom(ctx); f != nil {
		en.scope = f.snapshot()
	}
	if e.Time.IsZero() {
		en.at = time.Now()
	}
	if en.scope.TraceID == "" && l.cfg.TraceID != nil && ctx != nil {
		en.scope.TraceID = l.cfg.TraceID(ctx)
	}
	if en.scope.Endpoint == "" && en.scope.Caller == "" {
		en.npcs = uint8(runtime.Callers(2, en.pcs[:]))
	}
	l.qmu.Lock()
	switch {
	case l.closed:
		l.qmu.Unlock()
		l.drop(n, "logger closed")
		return
	case len(l.queue) >= l.cfg.QueueSize:
		l.qmu.Unlock()
		l.drop(n, "queue full")
		return
	}
	l.queue = append(l.queue, en)
	wake := len(l.queue) == 1
	l.qmu.Unlock()
	l.stats.recorded.Add(1)
	if wake {
		select {
		case l.signal <- struct{}{}:
		default: // already signalled
		}
	}
}

func (l *Logger) drop(n uint64, why string) {
	l.stats.dropped.Add(1)
	l.drops.note(n, why)
}

// Flush waits until every event recorded before it is durable: written
// and synced by the Output (a Client's spool fsync'd; it does not wait for
// kansa). It returns the Output's sync error, ctx.Err() if ctx ends first
// (the flush itself goes on), or an error if the Logger is closed.
func (l *Logger) Flush(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case l.sync <- reply:
	case <-l.done:
		return errors.New("audit: logger closed")
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close flushes, writes a last heartbeat, and closes the Output, which for
// a Client means delivering what it can before ctx is done: give ctx a
// deadline, since with kansa down a Client waits for it until then. What is
// not delivered stays in the spool for the next start, and Close returns
// the Output's error (ErrUndelivered for a Client). Events recorded after
// Close are dropped and counted. Close is idempotent.
func (l *Logger) Close(ctx context.Context) error {
	l.closeOnce.Do(func() {
		l.qmu.Lock()
		l.closed = true // no Record queues after this; the writer drains the rest
		l.qmu.Unlock()
		close(l.quit)
		<-l.done
		l.closeErr = l.out.Close(ctx)
	})
	return l.closeErr
}

// run is the writer goroutine: it encodes, writes, syncs and heartbeats.
func (l *Logger) run() {
	defer close(l.done)
	w := newWriter(l)
	tick := time.NewTicker(l.cfg.SyncInterval)
	defer tick.Stop()
	var hb <-chan time.Time
	if l.cfg.HeartbeatInterval > 0 {
		t := time.NewTicker(l.cfg.HeartbeatInterval)
		defer t.Stop()
		hb = t.C
	}
	for {
		select {
		case <-l.signal:
			w.drain()
		case reply := <-l.sync:
			w.drain()
			reply <- w.sync()
		case <-tick.C:
			if w.dirty {
				if err := w.sync(); err != nil {
					l.log.Warn("audit: sync output", "err", err)
				}
			}
		case <-hb:
			w.heartbeat()
		case <-l.quit:
			w.drain()
			w.heartbeat()
			if err := w.sync(); err != nil {
				l.log.Warn("audit: sync output at close", "err", err)
			}
			return
		}
	}
}

// writer is the state of the writer goroutine.
type writer struct {
	l     *Logger
	spare []entry // the queue's other buffer
	enc   *encoder
	buf   []byte
	dirty bool
}

func newWriter(l *Logger) *writer {
	return &writer{l: l, enc: newEncoder(l.cfg, l.stream)}
}

// drain writes every queued entry: it takes the whole queue at once,
// leaving its spare slice in its place, until the queue stays empty.
func (w *writer) drain() {
	for {
		w.l.qmu.Lock()
		batch := w.l.queue
		w.l.queue = w.spare[:0]
		w.l.qmu.Unlock()
		if len(batch) == 0 {
			w.spare = batch
			return
		}
		for i := range batch {
			w.write(&batch[i])
		}
		clear(batch) // drop the references to the application's changes and meta
		w.spare = batch[:0]
	}
}

func (w *writer) write(en *entry) {
	w.buf = w.enc.event(w.buf[:0], en)
	if err := w.l.out.Write(w.buf); err != nil {
		w.l.stats.dropped.Add(1)
		w.l.drops.note(en.n, err.Error())
		return
	}
	w.l.stats.written.Add(1)
	w.dirty = true
}

// heartbeat writes the stream's last assigned number: events numbered up
// to it are written, queued behind the heartbeat, or were dropped — and a
// drop then shows as a gap.
func (w *writer) heartbeat() {
	last := w.l.seq.Load()
	if last == 0 {
		return // nothing numbered yet
	}
	w.buf = w.enc.heartbeat(w.buf[:0], last, time.Now())
	if err := w.l.out.Write(w.buf); err != nil {
		w.l.log.Warn("audit: heartbeat not written", "stream", w.l.stream, "last", last, "err", err)
		return
	}
	w.l.stats.heartbeats.Add(1)
	w.dirty = true
}

func (w *writer) sync() error {
	if err := w.l.out.Sync(); err != nil {
		return fmt.Errorf("audit: sync output: %w", err)
	}
	w.dirty = false
	return nil
}

// Stats are a Logger's counters since New.
type Stats struct {
	Recorded   uint64      // queued by Record
	Written    uint64      // handed to the Output
	Dropped    uint64      // lost: queue full, Logger closed, or refused by the Output (a full spool)
	Invalid    uint64      // refused by Record: no Action
	Heartbeats uint64      // written; a Client's OutputStats.Sent counts them with the events
	Output     OutputStats // from an Output that counts (a Client)
}

type counters struct {
	recorded, written, dropped, invalid, heartbeats atomic.Uint64
}

// Stats returns the Logger's counters.
func (l *Logger) Stats() Stats {
	s := Stats{
		Recorded:   l.stats.recorded.Load(),
		Written:    l.stats.written.Load(),
		Dropped:    l.stats.dropped.Load(),
		Invalid:    l.stats.invalid.Load(),
		Heartbeats: l.stats.heartbeats.Load(),
	}
	if c, ok := l.out.(interface{ Stats() OutputStats }); ok {
		s.Output = c.Stats()
	}
	return s
}

// dropLog logs losses without flooding: the first at once, then a summary
// at most every 10 s.
type dropLog struct {
	log     *slog.Logger
	msg     string // default "audit: events dropped"
	mu      sync.Mutex
	pending uint64
	lastAt  time.Time
}

func (d *dropLog) note(n uint64, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending++
	now := time.Now()
	if !d.lastAt.IsZero() && now.Sub(d.lastAt) < 10*time.Second {
		return
	}
	msg := d.msg
	if msg == "" {
		msg = "audit: events dropped"
	}
	if n > 0 {
		d.log.Error(msg, "count", d.pending, "last_seq", n, "reason", why)
	} else {
		d.log.Error(msg, "count", d.pending, "reason", why)
	}
	d.pending = 0
	d.lastAt = now
}
