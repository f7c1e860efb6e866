package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/batch"
	"github.com/kansa-audit/kansa/internal/chain"
	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/metrics"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/objstore/s3store"
	"github.com/kansa-audit/kansa/internal/query"
	"github.com/kansa-audit/kansa/internal/reconcile"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/route"
	"github.com/kansa-audit/kansa/internal/search"
	"github.com/kansa-audit/kansa/internal/sqlq"
	"github.com/kansa-audit/kansa/internal/wal"
)

// SocketName is the Unix socket a serving node answers on inside its data
// directory.
const SocketName = "kansa.sock"

// DefaultIndexedMemberBytes is the archive's gzip member size when the
// index is enabled, the archive is a local directory and
// archive.member_bytes is not set: small enough that the index keeps
// references into the archive rather than copies (docs/search-index.md,
// "Events by reference"). With a bucket the default stays 1 MiB, and the
// index keeps copies: a reference would cost a ranged GET per lookup.
const DefaultIndexedMemberBytes = 64 << 10

// MemberBytes is the archive's gzip member size under cfg (0: the
// archive's default, 1 MiB).
func MemberBytes(cfg config.Config) int {
	if m := int(cfg.Archive.MemberBytes); m != 0 {
		return m
	}
	if cfg.Index.Enabled && cfg.Archive.S3.Bucket == "" {
		return DefaultIndexedMemberBytes
	}
	return 0
}

// IndexByReference is whether the index keeps references into the
// archive under cfg rather than copies: when its members are small.
func IndexByReference(cfg config.Config) bool {
	m := MemberBytes(cfg)
	return m != 0 && m <= index.MaxRefMember
}

// Node is an open data directory. Open it, Start it, Shutdown once.
type Node struct {
	Config   config.Config
	Dir      string
	WriterID string
	Log      *slog.Logger
	Metrics  *metrics.Registry
	WAL      *wal.WAL
	Store    objstore.Store
	Archive  *archive.Writer
	Batcher  *batch.Batcher
	// Chain is the writer's logs; Checkpointer signs them into
	// CheckpointStore (docs/tamper-evidence.md).
	Chain           *chain.State
	Checkpointer    *chain.Checkpointer
	CheckpointStore objstore.Store
	// Index and IndexBatcher are the search index and its sink, when
	// index.enabled; nil otherwise.
	Index        *index.Index
	IndexBatcher *batch.Batcher
	Router       *route.Router
	Search       search.Searcher
	SQL          *sqlq.Engine
	Ingest       *Ingester

	lock      *os.File
	inputs    inputs
	cancel    context.CancelFunc
	runErr    chan error
	closeOnce sync.Once
	closeErr  error
}

// OpenStore opens the archive's object store for data directory dir: the
// S3 bucket when one is configured, else the local directory.
func OpenStore(cfg config.Config, dir string, log *slog.Logger) (objstore.Store, error) {
	if cfg.Archive.S3.Bucket != "" {
		s3cfg := cfg.Archive.S3
		var err error
		if s3cfg.Owner, err = ownerID(dir); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := s3store.New(ctx, s3cfg, log.With("stage", "s3"))
		if err != nil {
			return nil, fmt.Errorf("archive.s3: %w", err)
		}
		return st, nil
	}
	return objstore.NewDir(cfg.Archive.Location(dir))
}

// Open locks cfg.Data and opens its WAL and archive. It returns an error
// wrapping ErrLocked when another process owns the directory.
func Open(cfg config.Config, log *slog.Logger) (*Node, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(cfg.Data)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	n := &Node{Config: cfg, Dir: dir, Log: log, Metrics: metrics.NewRegistry()}
	if n.lock, err = lockDir(dir); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			n.closeFiles()
		}
	}()
	if n.WriterID, err = writerID(dir, cfg.WriterID); err != nil {
		return nil, err
	}
	n.WAL, err = wal.Open(filepath.Join(dir, "wal"), wal.Options{
		SegmentSize: int64(cfg.WAL.SegmentBytes), MaxSize: int64(cfg.WAL.MaxBytes), Logger: log.With("stage", "wal")})
	if err != nil {
		var ce *wal.CorruptionError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%w\nThe WAL is damaged before its tail. Run `kansa wal repair --data %s` to cut it at the damage (records after it are lost), after copying the directory aside", err, cfg.Data)
		}
		return nil, err
	}
	if n.Store, err = OpenStore(cfg, dir, log); err != nil {
		return nil, err
	}
	store := n.Store
	member := MemberBytes(cfg)
	acfg := archive.Config{Prefix: cfg.Archive.Prefix, ErrorPrefix: cfg.Archive.ErrorPrefix,
		TimeZone: cfg.Archive.TimeZone, GzipLevel: cfg.Archive.GzipLevel, MemberBytes: member,
		Parquet: cfg.Archive.Parquet(), ParquetPrefix: cfg.Archive.ParquetPrefix}
	n.Archive, err = archive.NewWriter(acfg, store, n.WriterID)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "sinks"), 0o755); err != nil {
		return nil, err
	}
	n.Batcher, err = batch.New(batch.Config{MaxBytes: int64(cfg.Batch.MaxBytes), MaxInterval: cfg.Batch.MaxInterval},
		batch.Deps{Name: "archive", WAL: n.WAL, Dst: n.Archive, StateDir: filepath.Join(dir, "sinks"), Logger: log.With("stage", "batch"), Metrics: n.Metrics,
			Release: n.release})
	if err != nil {
		return nil, err
	}
	if cfg.Index.Enabled {
		if n.Index, err = index.Open(cfg.Index.Location(dir), index.Options{CacheBytes: int64(cfg.Index.CacheBytes), LineCacheBytes: int64(cfg.Index.LineCacheBytes), Archive: store}); err != nil {
			return nil, err
		}
		if IndexByReference(cfg) {
			// Archived events become references in the index.
			ilog := log.With("stage", "index")
			n.Archive.OnPlaced(func(ctx context.Context, ps []archive.Placement) {
				if _, err := n.Index.Repoint(ps); err != nil {
					ilog.Warn("events archived keep their copies in the index", "err", err)
				}
			})
		}
		n.IndexBatcher, err = batch.New(batch.Config{MaxBytes: int64(cfg.Batch.MaxBytes), MaxInterval: cfg.Index.MaxInterval},
			batch.Deps{Name: "index", WAL: n.WAL, Dst: index.Sink{Index: n.Index}, StateDir: filepath.Join(dir, "sinks"), Logger: log.With("stage", "index"), Metrics: n.Metrics,
				Release: n.release})
		if err != nil {
			return nil, err
		}
	}
	if n.Router, err = route.New(cfg.Routes); err != nil {
		return nil, err
	}
	n.Search = &search.Scan{WAL: n.WAL, Store: n.Store, Delivered: n.Batcher.Delivered}
	if n.Index != nil {
		n.Search = &search.Indexed{Index: n.Index, WAL: n.WAL, Delivered: n.IndexBatcher.Delivered}
	}
	n.SQL = &sqlq.Engine{Store: n.Store, Archive: acfg, Writer: n.WriterID, WAL: n.WAL, Delivered: n.Batcher.Delivered,
		CacheDir: filepath.Join(dir, "sql-cache")}
	n.Ingest = newIngester(n)
	if err := n.Ingest.loadDrops(); err != nil {
		return nil, err
	}
	n.Metrics.Gauge("kansa_wal_bytes", "Bytes of WAL segments on disk.", func() float64 { return float64(n.WAL.Size()) })
	n.Metrics.Gauge("kansa_wal_max_bytes", "The WAL's size limit (0: none).", func() float64 { return float64(cfg.WAL.MaxBytes) })
	ok = true
	return n, nil
}

// OpenCheckpointStore opens where data directory dir's checkpoints go:
// checkpoints.s3's bucket, checkpoints.dir, or else the archive's store.
func OpenCheckpointStore(cfg config.Config, dir string, archiveStore objstore.Store, log *slog.Logger) (objstore.Store, error) {
	switch c := cfg.Checkpoints; {
	case c.S3.Bucket != "":
		s3cfg := c.S3
		s3cfg.Setting = "checkpoints.s3"
		var err error
		if s3cfg.Owner, err = ownerID(dir); err != nil {
			return nil, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := s3store.New(ctx, s3cfg, log.With("stage", "checkpoints"))
		if err != nil {
			return nil, fmt.Errorf("checkpoints.s3: %w", err)
		}
		return st, nil
	case c.Dir != "":
		return objstore.NewDir(c.Dir)
	}
	return archiveStore, nil
}

// openChain opens the writer's logs (rebuilt from its manifests when the
// state file is missing), the signing key and the checkpoint store. Start
// calls it: commands that only read a data directory leave all of it alone.
func (n *Node) openChain() error {
	st, found, err := chain.Open(filepath.Join(n.Dir, "chain.json"), n.WriterID)
	if err != nil {
		return err
	}
	if !found {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		err := st.Replay(ctx, n.Store)
		cancel()
		if err != nil {
			return err
		}
	}
	n.Chain = st
	n.Archive.UseChain(st)
	if n.CheckpointStore, err = OpenCheckpointStore(n.Config, n.Dir, n.Store, n.Log); err != nil {
		return err
	}
	signer, err := chain.LoadSigner(n.Config.Checkpoints.KeyPath(n.Dir), "kansa-"+n.WriterID, n.Config.Checkpoints.KeyFile == "")
	if err != nil {
		return fmt.Errorf("checkpoints.key_file: %w", err)
	}
	n.Checkpointer = &chain.Checkpointer{State: st, Signer: signer, Store: n.CheckpointStore, Log: n.Log.With("stage", "checkpoints"),
		Signed: n.Metrics.Counter("kansa_checkpoints_total", "Signed checkpoints written."),
		Failed: n.Metrics.Counter("kansa_checkpoint_failures_total", "Checkpoint rounds that failed (retried at the next interval).")}
	n.Metrics.Gauge("kansa_log_leaves_unsigned", "Log leaves (archived batches) no signed checkpoint covers yet.", func() float64 { return float64(n.Checkpointer.Unsigned()) })
	return nil
}

// retention expires batches older than days at once and then daily, until
// ctx ends, and signs a checkpoint after each expiry so the record is
// covered at once.
func (n *Node) retention(ctx context.Context, days int) {
	log := n.Log.With("stage", "retention")
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		r, err := n.Archive.Expire(ctx, now.AddDate(0, 0, -days), fmt.Sprintf("retention_days=%d", days), now)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error("retention failed; trying again tomorrow", "err", err)
		case r != nil:
			log.Info("batches expired by policy", "batches", len(r.Expired), "policy", r.Policy)
			if _, err := n.Checkpointer.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				log.Warn("checkpoint after retention failed; retrying at the next interval", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// release frees the WAL records that every sink has delivered.
func (n *Node) release(uint64) error {
	idx := n.Batcher.Delivered()
	if n.IndexBatcher != nil {
		idx = min(idx, n.IndexBatcher.Delivered())
	}
	return n.WAL.Release(idx)
}

// batchers are the node's sinks.
func (n *Node) batchers() []*batch.Batcher {
	if n.IndexBatcher != nil {
		return []*batch.Batcher{n.Batcher, n.IndexBatcher}
	}
	return []*batch.Batcher{n.Batcher}
}

// Start opens the logs and the signing key, then runs the batchers, the
// checkpointer and retention in the background until Shutdown.
func (n *Node) Start() error {
	if err := n.openChain(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	bs := n.batchers()
	n.runErr = make(chan error, 1)
	go func() {
		errs := make(chan error, len(bs))
		for _, b := range bs {
			go func() { errs <- b.Run(ctx) }()
		}
		go n.Checkpointer.Run(ctx, n.Config.Checkpoints.Interval)
		if days := n.Config.Archive.RetentionDays; days > 0 {
			go n.retention(ctx, days)
		}
		var all []error
		for range bs {
			all = append(all, <-errs)
		}
		n.runErr <- errors.Join(all...)
	}()
	return nil
}

// Shutdown makes everything accepted durable, delivers it as a final batch
// within ctx's deadline, and closes the directory. What cannot be delivered
// in time stays in the WAL for the next start. Idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	n.closeOnce.Do(func() {
		var errs []error
		n.stopInputs()
		if n.Ingest != nil && n.Ingest.hasDrops.Load() && !n.Ingest.flushDrops() {
			if err := n.Ingest.saveDrops(); err != nil {
				errs = append(errs, fmt.Errorf("records dropped under wal.when_full: drop could be neither recorded (the WAL is full) nor kept for the next start: %w", err))
			} else {
				n.Log.Warn("records dropped under wal.when_full: drop are counted in " + droppedFile + " until the WAL has room to record them in the error output")
			}
		}
		if err := n.WAL.Sync(ctx, n.WAL.Last()); err != nil {
			errs = append(errs, fmt.Errorf("sync WAL: %w", err))
		}
		if n.cancel != nil {
			for _, b := range n.batchers() {
				b.Stop()
			}
			select {
			case err := <-n.runErr:
				if err != nil {
					errs = append(errs, fmt.Errorf("final batch: %w", err))
				}
			case <-ctx.Done():
				n.cancel()
				<-n.runErr
				errs = append(errs, fmt.Errorf("final batch not delivered within the shutdown grace period; it stays in the WAL and is delivered at next start"))
			}
			n.cancel()
		}
		// Sign what the final batch appended, so a stopped collector's
		// archive is wholly covered.
		if n.cancel != nil {
			if _, err := n.Checkpointer.Checkpoint(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := n.closeFiles(); err != nil {
			errs = append(errs, err)
		}
		n.closeErr = errors.Join(errs...)
	})
	return n.closeErr
}

func (n *Node) closeFiles() error {
	var err error
	if n.WAL != nil {
		err = n.WAL.Close()
	}
	if n.Index != nil {
		err = errors.Join(err, n.Index.Close())
	}
	if n.lock != nil {
		n.lock.Close()
	}
	return err
}

// SocketPath returns the path of the data directory's socket.
func SocketPath(dataDir string) string { return filepath.Join(dataDir, SocketName) }

// ownerID returns the id kept in <dir>/owner-id, generating it on first
// start: it names this data directory on the objects it writes, so that
// the store can tell this collector's own earlier uploads from another
// collector's (s3store.Config.Owner).
func ownerID(dir string) (string, error) {
	p := filepath.Join(dir, "owner-id")
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := rand.Text()
	if err := objstore.WriteFile(p, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("save owner id: %w", err)
	}
	return id, nil
}

// writerID returns the configured id, or the one kept in <dir>/writer-id,
// generating it on first start.
func writerID(dir, configured string) (string, error) {
	if configured != "" {
		if string(archive.AppendEscaped(nil, configured)) != configured {
			return "", fmt.Errorf("writer_id %q: use letters, digits, '.', '_' and '-' only", configured)
		}
		return configured, nil
	}
	p := filepath.Join(dir, "writer-id")
	if b, err := os.ReadFile(p); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	var r [5]byte
	rand.Read(r[:])
	id := "w" + hex.EncodeToString(r[:])
	if err := objstore.WriteFile(p, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("save writer id: %w", err)
	}
	return id, nil
}

// ErrNoCursor is returned by History for a cursor when the node has no
// index to page with.
var ErrNoCursor = errors.New("paging by cursor needs the search index (index.enabled: true; build it with kansa reindex)")

// History returns one page of the events of a record (or, with actor, of
// an actor), newest first, and the cursor of the next page ("" when there
// is none). With the index it reads the index; without it, it searches the
// archive and the WAL, which is slower and returns the first page only.
func (n *Node) History(ctx context.Context, ref event.Ref, actor bool, limit int, after string) ([]search.Hit, string, error) {
	if limit <= 0 {
		limit = 100
	}
	if n.Index == nil {
		if after != "" {
			return nil, "", ErrNoCursor
		}
		q := query.Query{Limit: limit}
		if actor {
			q.Actors = []event.Ref{ref}
		} else {
			q.Targets = []event.Ref{ref}
		}
		hits, err := n.Search.Search(ctx, &q)
		return hits, "", err
	}
	k := index.Key{Kind: index.Target, Type: ref.Type, ID: ref.ID}
	if actor {
		k.Kind = index.Actor
	}
	var at time.Time
	var atID string
	if after != "" {
		var err error
		if at, atID, err = index.ParseCursor(after); err != nil {
			return nil, "", err
		}
	}
	// The WAL records the index has not added yet (about index.max_interval
	// of them) first, as search.Indexed does: what the index adds
	// meanwhile is then in both, and shown once.
	q := query.Query{}
	if actor {
		q.Actors = []event.Ref{ref}
	} else {
		q.Targets = []event.Ref{ref}
	}
	hits, err := search.Tail(n.WAL, n.IndexBatcher.Delivered()+1, &q)
	if err != nil {
		return nil, "", err
	}
	if after != "" {
		hits = slices.DeleteFunc(hits, func(h search.Hit) bool { return !older(h.Event, at, atID) })
	}
	res, err := n.Index.Search(ctx, index.Request{Keys: []index.Key{k}, Limit: limit, After: after})
	if err != nil {
		return nil, "", err
	}
	for _, l := range res.Events {
		e, err := event.Decode(l)
		if err != nil {
			return nil, "", err
		}
		e.Normalize()
		hits = append(hits, search.Hit{Event: e, Raw: l})
	}
	hits = search.Order(hits)
	more := res.Next != ""
	if len(hits) > limit {
		hits, more = hits[:limit], true
	}
	next := ""
	if more && len(hits) > 0 {
		last := hits[len(hits)-1].Event
		next = index.CursorAt(last.Time, last.ID)
	}
	return hits, next, nil
}

// older reports whether e comes after the event (at, id) in a history:
// newest first, then by id, greatest first.
func older(e *event.Event, at time.Time, id string) bool {
	if c := e.Time.Compare(at); c != 0 {
		return c < 0
	}
	return e.ID < id
}

// ErrNoIndex is returned by what only the search index can answer.
var ErrNoIndex = errors.New("this needs the search index: set index.enabled: true in the config (--config FILE) and, if it was never built, build it with kansa reindex")

// Counts returns per-day counts of events by dim from the index's
// counters (index.Counts).
func (n *Node) Counts(ctx context.Context, tenant string, dim index.Dim, since, until time.Time) ([]index.Count, error) {
	if n.Index == nil {
		return nil, ErrNoIndex
	}
	return n.Index.Counts(ctx, tenant, dim, since, until)
}

// Reconcile reports what the archive and the WAL tail hold, per source and
// day and per producer stream (internal/reconcile). It reads the WAL from
// what the archive has and leaves out this collector's batches delivered
// after that, so each record counts once while ingest goes on.
func (n *Node) Reconcile(ctx context.Context, since, until time.Time) (*reconcile.Report, error) {
	for attempt := 0; ; attempt++ {
		done := n.Batcher.Delivered()
		var acc archive.Accounts
		err := n.WAL.Scan(done+1, func(_ uint64, rec []byte) error {
			if t := record.TypeOf(rec); t != record.TypeEvent && t != record.TypeReject {
				return nil
			}
			e, err := record.ParseEntry(rec)
			if err != nil {
				return err
			}
			acc.Add(&e)
			return nil
		})
		if errors.Is(err, wal.ErrReleased) && attempt < 5 {
			continue // the archive moved on while the tail was read
		}
		if err != nil {
			return nil, err
		}
		return reconcile.Build(ctx, reconcile.Options{Store: n.Store, Pending: acc, PendingKnown: true, Since: since, Until: until,
			Include: func(m *archive.Manifest) bool { return m.Writer != n.WriterID || m.Last <= done }})
	}
}
