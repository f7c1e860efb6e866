package chain

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// Keys in the checkpoint store:
//
//	_kansa/checkpoints/writer=W/LOG/SIZE   one signed checkpoint; SIZE 20 digits
//	_kansa/checkpoints/keys/NAME+ID.pub   a verifier key that signed some
//
// Checkpoints are never overwritten: a log's checkpoint is written only when
// the log has grown past its newest one, so a bucket with Object Lock in
// compliance mode can hold them.
const (
	CheckpointPrefix = "_kansa/checkpoints/"
	KeysPrefix       = CheckpointPrefix + "keys/"
)

// CheckpointKey is the key of writer's checkpoint of log at size.
func CheckpointKey(writer, log string, size uint64) string {
	return fmt.Sprintf("%swriter=%s/%s/%020d", CheckpointPrefix, writer, log, size)
}

// ParseCheckpointKey reads a key CheckpointKey made.
func ParseCheckpointKey(key string) (writer, log string, size uint64, ok bool) {
	rest, ok := strings.CutPrefix(key, CheckpointPrefix+"writer=")
	if !ok {
		return "", "", 0, false
	}
	writer, rest, ok1 := strings.Cut(rest, "/")
	log, num, ok2 := strings.Cut(rest, "/")
	n, err := strconv.ParseUint(num, 10, 64)
	if !ok1 || !ok2 || err != nil || len(num) != 20 {
		return "", "", 0, false
	}
	return writer, log, n, true
}

// Keys reads the verifier keys stored beside the checkpoints.
func Keys(ctx context.Context, store objstore.Store) ([]*Verifier, error) {
	var keys []*Verifier
	err := store.List(ctx, KeysPrefix, func(key string, _ int64) error {
		data, err := store.Get(ctx, key)
		if err != nil {
			return err
		}
		v, err := NewVerifier(string(data))
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		keys = append(keys, v)
		return nil
	})
	return keys, err
}

// Checkpointer writes checkpoints of a State's logs.
type Checkpointer struct {
	State  *State
	Signer *Signer
	Store  objstore.Store
	Log    *slog.Logger
	Now    func() time.Time
	// Signed and Failed, when set, count checkpoints written and rounds
	// that failed.
	Signed, Failed interface{ Add(uint64) }

	mu     sync.Mutex
	done   map[string]uint64 // log → size of its newest checkpoint
	loaded bool
}

// load learns the newest checkpoint of each log from the store and puts
// the signer's public key beside them.
func (c *Checkpointer) load(ctx context.Context) error {
	if c.loaded {
		return nil
	}
	c.done = map[string]uint64{}
	err := c.Store.List(ctx, fmt.Sprintf("%swriter=%s/", CheckpointPrefix, c.State.Writer()), func(key string, _ int64) error {
		if _, log, size, ok := ParseCheckpointKey(key); ok {
			c.done[log] = max(c.done[log], size)
		}
		return nil
	})
	if err != nil {
		return err
	}
	key := KeysPrefix + c.Signer.Verifier()[:len(c.Signer.Name())+9] + ".pub"
	if _, err := c.Store.Get(ctx, key); errors.Is(err, objstore.ErrNotExist) {
		if err := c.Store.Put(ctx, key, []byte(c.Signer.Verifier()+"\n")); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	c.loaded = true
	return nil
}

// Checkpoint signs and stores a checkpoint of every log that grew since its
// newest checkpoint, and returns how many it wrote.
func (c *Checkpointer) Checkpoint(ctx context.Context) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.load(ctx); err != nil {
		return 0, fmt.Errorf("checkpoints: %w", err)
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	n := 0
	for _, h := range c.State.Heads() {
		if h.Size <= c.done[h.Log] {
			continue
		}
		cp := &Checkpoint{Origin: Origin(c.State.Writer(), h.Log), Size: h.Size, Root: h.Root, Time: now()}
		if err := c.Store.Put(ctx, CheckpointKey(c.State.Writer(), h.Log, h.Size), c.Signer.Sign(cp)); err != nil {
			return n, fmt.Errorf("checkpoint of log %s at %d: %w", h.Log, h.Size, err)
		}
		c.done[h.Log] = h.Size
		n++
		if c.Signed != nil {
			c.Signed.Add(1)
		}
	}
	return n, nil
}

// Unsigned is how many leaves of all logs no checkpoint covers yet (0
// before the first checkpoint round has listed the store).
func (c *Checkpointer) Unsigned() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		return 0
	}
	var n uint64
	for _, h := range c.State.Heads() {
		n += h.Size - min(h.Size, c.done[h.Log])
	}
	return n
}

// Run writes checkpoints every interval until ctx ends. Failures are logged
// and retried at the next tick.
func (c *Checkpointer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := c.Checkpoint(ctx); err != nil && ctx.Err() == nil {
				if c.Failed != nil {
					c.Failed.Add(1)
				}
				if c.Log != nil {
					c.Log.Warn("checkpoint failed; retrying at the next interval", "err", err)
				}
			}
		}
	}
}

// Replay rebuilds the state of its writer's logs from the manifests and
// retention records in store, checking every leaf against what its object
// lists and every root against the one recorded. It is what Open's caller
// does when the state file is missing.
func (s *State) Replay(ctx context.Context, store objstore.Store) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	leaves, err := Leaves(ctx, store, s.writer)
	if err != nil {
		return fmt.Errorf("rebuild the logs: %w", err)
	}
	logs := map[string]*Log{}
	for _, lf := range leaves {
		l := logs[lf.Entry.Log]
		if l == nil {
			l = &Log{}
			logs[lf.Entry.Log] = l
		}
		leaf := merkle.LeafHash(lf.Text)
		switch {
		case lf.Entry.Index != l.Size():
			return fmt.Errorf("rebuild the logs: %s: leaf %d of log %s, but the objects before it hold %d leaves (kansa verify names what is wrong)", lf.Object, lf.Entry.Index, lf.Entry.Log, l.Size())
		case archive.HexHash(leaf) != lf.Entry.Leaf:
			return fmt.Errorf("rebuild the logs: %s: what it lists does not hash to its leaf of log %s (kansa verify names what is wrong)", lf.Object, lf.Entry.Log)
		}
		l.Before = l.Frontier.Clone()
		l.Frontier.Append(leaf)
		l.Leaf, l.Other = leaf, lf.Retention != nil
		if lf.Manifest != nil {
			l.First, l.Last = lf.Manifest.First, lf.Manifest.Last
		}
		if archive.HexHash(l.Frontier.Root()) != lf.Entry.Root {
			return fmt.Errorf("rebuild the logs: %s: log %s's root at size %d does not follow from its leaves (kansa verify names what is wrong)", lf.Object, lf.Entry.Log, lf.Entry.Size)
		}
	}
	s.logs = logs
	return s.save()
}

// LeafSource is one leaf of a writer's log as the archive holds it: the
// object that appended it (a manifest or a retention record) and the text
// its leaf hash is computed over.
type LeafSource struct {
	Object    string
	Entry     archive.LogEntry
	Text      []byte
	Manifest  *archive.Manifest  // or
	Retention *archive.Retention // the object
}

// Leaves returns every leaf of writer's logs ("" for every writer's) that
// the manifests and retention records in store hold, ordered by log and
// index.
func Leaves(ctx context.Context, store objstore.Store, writer string) ([]LeafSource, error) {
	mp, rp := archive.ManifestPrefix, archive.RetentionPrefix
	if writer != "" {
		mp, rp = mp+"writer="+writer+"/", rp+"writer="+writer+"/"
	}
	var ms []*archive.Manifest
	err := archive.EveryManifest(ctx, store, mp, func(m *archive.Manifest) error { ms = append(ms, m); return nil })
	if err != nil {
		return nil, err
	}
	rs := map[string]*archive.Retention{}
	err = archive.Retentions(ctx, store, rp, func(key string, r *archive.Retention) error { rs[key] = r; return nil })
	if err != nil {
		return nil, err
	}
	return LeavesOf(ms, rs), nil
}

// LeavesOf is Leaves over manifests and retention records already read
// (retention records by key).
func LeavesOf(ms []*archive.Manifest, rs map[string]*archive.Retention) []LeafSource {
	var out []LeafSource
	for _, m := range ms {
		for _, e := range m.Logs {
			out = append(out, LeafSource{Object: archive.ManifestKey(m.Writer, m.First, m.Last), Entry: e,
				Text: archive.BatchLeaf(m.Writer, e.Log, m.First, m.Last, m.Files), Manifest: m})
		}
	}
	for key, r := range rs {
		for _, e := range r.Logs {
			out = append(out, LeafSource{Object: key, Entry: e, Text: archive.RetentionLeaf(r, e.Log), Retention: r})
		}
	}
	writerOf := func(l LeafSource) string {
		if l.Manifest != nil {
			return l.Manifest.Writer
		}
		return l.Retention.Writer
	}
	slices.SortStableFunc(out, func(a, b LeafSource) int {
		return cmp.Or(cmp.Compare(writerOf(a), writerOf(b)), cmp.Compare(a.Entry.Log, b.Entry.Log), cmp.Compare(a.Entry.Index, b.Entry.Index),
			cmp.Compare(a.Object, b.Object))
	})
	return out
}

// OriginOf is the origin of the log a leaf belongs to.
func (l LeafSource) OriginOf() string {
	if l.Manifest != nil {
		return Origin(l.Manifest.Writer, l.Entry.Log)
	}
	return Origin(l.Retention.Writer, l.Entry.Log)
}

var _ archive.Chain = (*State)(nil)
