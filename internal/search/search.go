// Package search finds events. Searcher is the interface every search
// backend implements: the scan here, which reads the archive and the WAL's
// undelivered tail, and the index of a later stage.
package search

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/query"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/wal"
)

// Hit is one found event: decoded, and the exact bytes it is stored as.
type Hit struct {
	Event *event.Event
	Raw   []byte
}

// Searcher finds events matching a query.
//
// Search returns the events that match q, newest first (by event time,
// then id), each (tenant, source, id) once, at most q.Limit of them (0 means
// all). It sees every event that was durable when it started: archived ones
// and those still in the WAL. Implementations are safe for concurrent use;
// cancelling ctx abandons the search with ctx.Err().
type Searcher interface {
	Search(ctx context.Context, q *query.Query) ([]Hit, error)
}

// Scan is the Searcher that reads everything: the WAL tail and every archive
// file whose manifest says it may hold matching events.
type Scan struct {
	WAL       *wal.WAL
	Store     objstore.Store
	Delivered func() uint64 // the archive's checkpoint: WAL records above it are not archived yet
}

var _ Searcher = (*Scan)(nil)

type key struct{ tenant, source, id string }

// Search implements Searcher.
func (s *Scan) Search(ctx context.Context, q *query.Query) ([]Hit, error) {
	seen := map[key]bool{}
	var hits []Hit
	consider := func(raw []byte) error {
		e, err := event.Decode(raw)
		if err != nil {
			return nil // not an event line; counted by verify, not search's concern
		}
		e.Normalize()
		if !q.Match(e) {
			return nil
		}
		k := key{e.Tenant, e.Source, e.ID}
		if seen[k] {
			return nil
		}
		seen[k] = true
		// raw is valid only during this call, and Changes, Meta and Origin
		// alias it: keep copies.
		e.Changes, e.Meta, e.Origin = slices.Clone(e.Changes), slices.Clone(e.Meta), slices.Clone(e.Origin)
		hits = append(hits, Hit{Event: e, Raw: slices.Clone(raw)})
		return nil
	}
	// The WAL tail first: a record released while we read it is in the
	// archive by then, which is read next.
	if s.WAL != nil {
		from := s.Delivered() + 1
		err := s.WAL.Scan(from, func(_ uint64, rec []byte) error {
			if record.TypeOf(rec) != record.TypeEvent {
				return nil
			}
			en, err := record.ParseEntry(rec)
			if err != nil {
				return err
			}
			if !q.MatchTime(time.UnixMicro(en.Time)) || !tenantOK(q, en.Tenant) {
				return nil
			}
			return consider(en.Body)
		})
		if err != nil && !errors.Is(err, wal.ErrReleased) {
			return nil, err
		}
	}
	err := archive.Manifests(ctx, s.Store, func(m *archive.Manifest) error {
		for _, f := range m.Files {
			if f.Kind != "events" || f.Format != archive.FormatNDJSON || !overlaps(q, f.TimeMin, f.TimeMax) || !tenantOK(q, []byte(f.Tenant)) {
				continue
			}
			if err := archive.ReadLines(ctx, s.Store, f.Key, consider); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
	if err != nil {
		return nil, err
	}
	hits = Order(hits)
	if q.Limit > 0 && len(hits) > q.Limit {
		hits = hits[:q.Limit]
	}
	return hits, nil
}

func tenantOK(q *query.Query, tenant []byte) bool {
	if len(q.Tenants) == 0 || len(tenant) == 0 {
		return true
	}
	for _, t := range q.Tenants {
		if t == string(tenant) {
			return true
		}
	}
	return false
}

// overlaps reports whether a file spanning [min, max] (event times) may hold
// events in the query's time range.
func overlaps(q *query.Query, minS, maxS string) bool {
	lo, err1 := time.Parse(time.RFC3339Nano, minS)
	hi, err2 := time.Parse(time.RFC3339Nano, maxS)
	if err1 != nil || err2 != nil {
		return true
	}
	if !q.Since.IsZero() && hi.Before(q.Since) {
		return false
	}
	if !q.Until.IsZero() && !lo.Before(q.Until) {
		return false
	}
	return true
}
