package search

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/query"
	"github.com/kansa-audit/kansa/internal/record"
	"github.com/kansa-audit/kansa/internal/wal"
)

// Indexed is the Searcher that answers from the search index, plus the
// WAL records the index has not added yet: the same answers as Scan,
// without reading the archive.
type Indexed struct {
	Index     *index.Index
	WAL       *wal.WAL
	Delivered func() uint64 // the index sink's checkpoint: WAL records above it are not indexed yet
}

var _ Searcher = (*Indexed)(nil)

// Plan returns the posting lists that hold every event q can match: the
// smallest exact set among request ids, records and actors, in q's tenants
// (all when q names none), or every event of those tenants.
func Plan(q *query.Query) []index.Key {
	tenants := q.Tenants
	if len(tenants) == 0 {
		tenants = []string{""} // every tenant
	}
	var keys []index.Key
	for _, t := range tenants {
		switch {
		case len(q.RequestIDs) > 0:
			for _, r := range q.RequestIDs {
				keys = append(keys, index.Key{Kind: index.RequestID, Tenant: t, ID: r})
			}
		case len(q.Targets) > 0:
			for _, r := range q.Targets {
				keys = append(keys, index.Key{Kind: index.Target, Tenant: t, Type: r.Type, ID: r.ID})
			}
		case len(q.Actors) > 0:
			for _, r := range q.Actors {
				keys = append(keys, index.Key{Kind: index.Actor, Tenant: t, Type: r.Type, ID: r.ID})
			}
		default:
			keys = append(keys, index.Key{Kind: index.All, Tenant: t})
		}
	}
	return keys
}

// Search implements Searcher.
func (s *Indexed) Search(ctx context.Context, q *query.Query) ([]Hit, error) {
	// The WAL tail first: what the index adds meanwhile is then found in
	// both, and counted once below.
	hits, err := Tail(s.WAL, s.Delivered()+1, q)
	if err != nil {
		return nil, err
	}
	req := index.Request{Keys: Plan(q), Since: q.Since, Until: q.Until, Match: func(e *event.Event) bool {
		e.Normalize()
		return q.Match(e)
	}, Limit: 1000}
	if q.Limit > 0 {
		req.Limit = q.Limit
	}
	// q.Limit events from the index are enough: the tail's are merged in
	// and the list cut to q.Limit after sorting.
	fromIndex := 0
	for {
		res, err := s.Index.Search(ctx, req)
		if err != nil {
			return nil, err
		}
		fromIndex += len(res.Events)
		for _, l := range res.Events {
			e, err := event.Decode(l)
			if err != nil {
				return nil, err
			}
			e.Normalize()
			hits = append(hits, Hit{Event: e, Raw: l})
		}
		if res.Next == "" || q.Limit > 0 && fromIndex >= q.Limit {
			break
		}
		req.After = res.Next
	}
	out := Order(hits)
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}

// Tail returns the events of the WAL records from index from on that q
// matches (a nil WAL has none). Records released meanwhile are not an
// error: they are where the caller reads next (the index or the archive).
func Tail(w *wal.WAL, from uint64, q *query.Query) ([]Hit, error) {
	if w == nil {
		return nil, nil
	}
	var hits []Hit
	err := w.Scan(from, func(_ uint64, rec []byte) error {
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
		if h, ok := match(q, en.Body); ok {
			hits = append(hits, h)
		}
		return nil
	})
	if err != nil && !errors.Is(err, wal.ErrReleased) {
		return nil, err
	}
	return hits, nil
}

// Order sorts hits as every search answers: newest first, then by id
// (greatest first), each (tenant, source, id) once. It reuses hits.
func Order(hits []Hit) []Hit {
	slices.SortStableFunc(hits, func(a, b Hit) int {
		if c := b.Event.Time.Compare(a.Event.Time); c != 0 {
			return c
		}
		return strings.Compare(b.Event.ID, a.Event.ID)
	})
	seen := map[key]bool{}
	out := hits[:0]
	for _, h := range hits {
		k := key{h.Event.Tenant, h.Event.Source, h.Event.ID}
		if !seen[k] {
			seen[k] = true
			out = append(out, h)
		}
	}
	return out
}

// match decodes a stored line and reports whether q matches it, as Scan's
// consider does.
func match(q *query.Query, raw []byte) (Hit, bool) {
	e, err := event.Decode(raw)
	if err != nil {
		return Hit{}, false
	}
	e.Normalize()
	if !q.Match(e) {
		return Hit{}, false
	}
	e.Changes, e.Meta, e.Origin = slices.Clone(e.Changes), slices.Clone(e.Meta), slices.Clone(e.Origin)
	return Hit{Event: e, Raw: slices.Clone(raw)}, true
}
