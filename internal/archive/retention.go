package archive

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// RetentionPrefix holds retention records: one per run of retention that
// expired batches, written before any of their files is deleted.
const RetentionPrefix = "_kansa/retention/"

// Retention records that batches expired by policy: which, when, under which
// policy, and the leaves it appended to its writer's logs, so that kansa
// verify reports their files as expired, and anything else that disappears
// as missing. The manifests of expired batches stay.
type Retention struct {
	Version int    `json:"version"`
	Writer  string `json:"writer"`
	At      string `json:"at"`
	Policy  string `json:"policy"`
	// Expired lists the manifests (ManifestKey) whose files were deleted.
	Expired []string   `json:"expired"`
	Logs    []LogEntry `json:"logs,omitempty"`
}

// RetentionKey is the key of a retention record of writer made at at.
func RetentionKey(writer string, at time.Time) string {
	return fmt.Sprintf("%swriter=%s/%s.json", RetentionPrefix, writer, at.UTC().Format("20060102T150405.000000000Z"))
}

// RetentionLeaf is the leaf text of r in log: every expired manifest is
// listed, in every log the record appends to.
func RetentionLeaf(r *Retention, log string) []byte {
	b := fmt.Appendf(nil, "kansa retention v1\nwriter %s\nlog %s\nat %s\npolicy %s\n", r.Writer, log, r.At, r.Policy)
	for _, m := range r.Expired {
		b = fmt.Appendf(b, "expired %s\n", m)
	}
	return b
}

// Retentions calls fn with every retention record under prefix
// (RetentionPrefix, or one writer's: RetentionPrefix + "writer=W/"), in
// time order per writer.
func Retentions(ctx context.Context, store objstore.Store, prefix string, fn func(key string, r *Retention) error) error {
	return eachJSON(ctx, store, prefix, "retention record", func(key string, r *Retention) error {
		if r.Version != 1 {
			return fmt.Errorf("retention record %s: version %d, this kansa reads 1", key, r.Version)
		}
		return fn(key, r)
	})
}

// Expired returns the manifests the retention records in store say expired,
// each with the record that says so.
func Expired(ctx context.Context, store objstore.Store) (map[string]*Retention, error) {
	out := map[string]*Retention{}
	err := Retentions(ctx, store, RetentionPrefix, func(_ string, r *Retention) error {
		for _, m := range r.Expired {
			out[m] = r
		}
		return nil
	})
	return out, err
}

// Expire deletes the files of the writer's batches whose newest record
// (see newest) is before cutoff. It first
// appends a retention record naming them to each of their logs and stores
// it, then deletes; a deletion cut short is done again by the next call.
// It returns the record, or nil when nothing expired. Manifests stay: the
// logs are recomputed from them. Expire and Write exclude each other.
func (w *Writer) Expire(ctx context.Context, cutoff time.Time, policy string, now time.Time) (*Retention, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.chain == nil {
		return nil, fmt.Errorf("retention: the writer keeps no logs, so an expiry could not be told from a deletion")
	}
	expired, err := Expired(ctx, w.store)
	if err != nil {
		return nil, err
	}
	// The newest record of ours: finish its deletions (a crash may have
	// cut them short).
	var last *Retention
	if err := Retentions(ctx, w.store, RetentionPrefix+"writer="+w.writer+"/", func(_ string, r *Retention) error { last = r; return nil }); err != nil {
		return nil, err
	}
	if last != nil {
		if err := w.deleteBatches(ctx, last.Expired); err != nil {
			return nil, err
		}
	}
	var old []*Manifest
	err = EveryManifest(ctx, w.store, ManifestPrefix+"writer="+w.writer+"/", func(m *Manifest) error {
		if expired[ManifestKey(m.Writer, m.First, m.Last)] != nil {
			return nil
		}
		if t, ok := newest(m); ok && t.Before(cutoff) {
			old = append(old, m)
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return nil, err
	}
	r := &Retention{Version: 1, Writer: w.writer, At: now.UTC().Format(time.RFC3339Nano), Policy: policy}
	var logs []string
	for _, m := range old {
		r.Expired = append(r.Expired, ManifestKey(m.Writer, m.First, m.Last))
		for _, e := range m.Logs {
			if !slices.Contains(logs, e.Log) {
				logs = append(logs, e.Log)
			}
		}
	}
	slices.Sort(logs)
	var leaves []Leaf
	for _, l := range logs {
		leaves = append(leaves, Leaf{l, merkle.LeafHash(RetentionLeaf(r, l))})
	}
	entries, commit, err := w.chain.AppendOther(leaves)
	if err != nil {
		return nil, err
	}
	r.Logs = entries
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.store.Put(ctx, RetentionKey(w.writer, now), append(data, '\n')); err != nil {
		return nil, err
	}
	if err := commit(); err != nil {
		return nil, err
	}
	return r, w.deleteBatches(ctx, r.Expired)
}

// newest is the time of a batch's newest record: of its events and of
// every file's records, rejected ones included, which are timed as they
// arrived; for a batch without times, when it closed. It is false when a
// time does not parse, and the batch is then kept.
func newest(m *Manifest) (time.Time, bool) {
	var t time.Time
	times := []string{m.TimeMax}
	for _, f := range m.Files {
		times = append(times, f.TimeMax)
	}
	for _, s := range times {
		if s == "" {
			continue
		}
		u, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return t, false
		}
		if u.After(t) {
			t = u
		}
	}
	if t.IsZero() {
		u, err := time.Parse(time.RFC3339Nano, m.ClosedAt)
		return u, err == nil
	}
	return t, true
}

// deleteBatches deletes every file the manifests list.
func (w *Writer) deleteBatches(ctx context.Context, manifests []string) error {
	for _, key := range manifests {
		data, err := w.store.Get(ctx, key)
		if err != nil {
			return err
		}
		var m Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("manifest %s: %w", key, err)
		}
		for _, f := range m.Files {
			if err := w.store.Delete(ctx, f.Key); err != nil {
				return err
			}
		}
	}
	return nil
}
