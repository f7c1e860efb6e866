package index

import (
	"context"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/record"
)

// Sink delivers WAL batches into the index, as the archive's writer
// delivers them into the archive: a batch.Deliverer. Rejected records are
// not indexed (they are not events).
type Sink struct{ Index *Index }

// Write adds b's events, by WAL index when b has them (AddWAL). A batch
// written again (after a crash between the index's commit and the sink's
// checkpoint) overwrites its own keys; the per-day counters count its
// events twice.
func (s Sink) Write(ctx context.Context, b *archive.Batch) (*archive.Manifest, error) {
	lines := make([][]byte, 0, len(b.Entries))
	byWAL := len(b.Index) == len(b.Entries)
	var idx []uint64
	for i := range b.Entries {
		if e := &b.Entries[i]; e.Type == record.TypeEvent {
			lines = append(lines, e.Body)
			if byWAL {
				idx = append(idx, b.Index[i])
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var err error
	if byWAL {
		_, err = s.Index.AddWAL(lines, idx)
	} else {
		_, err = s.Index.Add(lines)
	}
	if err != nil {
		return nil, err
	}
	return &archive.Manifest{First: b.First, Last: b.Last, Events: len(lines)}, nil
}
