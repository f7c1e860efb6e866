package wal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"path/filepath"
	"sort"
)

// Reader reads durable records in index order from the segment files. A
// Reader is not safe for concurrent use; any number of Readers may run
// concurrently with each other, with Append, Sync and Release.
type Reader struct {
	w      *WAL
	next   uint64   // index Next returns next
	avail  uint64   // records <= avail are durable and within seg.end
	seg    *segFile // segment holding next, nil until opened
	segEnd uint64   // first index after seg
	closed bool
}

// NewReader returns a Reader whose first record is max(from, First()) as of
// this call. If the segment holding a record the Reader still has to read is
// released and deleted before the Reader opens it, Next returns an error
// wrapping ErrReleased; the Reader does not skip records.
func (w *WAL) NewReader(from uint64) *Reader {
	w.mu.Lock()
	if first := w.segs[0].first; from < first {
		from = first
	}
	w.mu.Unlock()
	return &Reader{w: w, next: from}
}

// Next returns the next record, blocking until it is durable or ctx is done
// (then it returns ctx.Err()). rec is valid until the next call to Next or
// Close and must not be modified. After the WAL is closed, Next returns the
// remaining durable records and then ErrClosed; after a write failure it
// returns the remaining durable records and then the WAL's sticky error. A
// damaged record gives *CorruptionError.
func (r *Reader) Next(ctx context.Context) (idx uint64, rec []byte, err error) {
	if r.closed {
		return 0, nil, ErrClosed
	}
	if r.seg == nil || r.next > r.avail || r.next >= r.segEnd {
		if err := r.refresh(ctx); err != nil {
			return 0, nil, err
		}
	}
	off := r.seg.off
	rec, err = r.seg.next()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errShortFrame // a durable record must be there
		}
		if errors.Is(err, errShortFrame) || errors.Is(err, errChecksum) {
			err = &CorruptionError{Segment: r.seg.path, Offset: off, Index: r.next, Err: err}
		}
		return 0, nil, err
	}
	idx = r.next
	r.next++
	return idx, rec, nil
}

// refresh waits until record next is durable, then positions seg on it with
// up-to-date bounds.
func (r *Reader) refresh(ctx context.Context) error {
	w := r.w
	w.mu.Lock()
	if err := w.waitSyncedLocked(ctx, r.next); err != nil {
		w.mu.Unlock()
		return err
	}
	r.avail = w.synced
	var segFirst uint64
	segEnd := uint64(math.MaxUint64)
	i := sort.Search(len(w.segs), func(i int) bool { return w.segs[i].first > r.next }) - 1
	if i >= 0 {
		segFirst = w.segs[i].first
		if i+1 < len(w.segs) {
			segEnd = w.segs[i+1].first
		}
	} else if r.seg != nil && r.seg.first <= r.next && r.next < r.segEnd {
		// Our open segment was deleted meanwhile; it stays readable.
		segFirst, segEnd = r.seg.first, r.segEnd
	} else {
		w.mu.Unlock()
		return fmt.Errorf("wal: read record %d: %w (first retained record is %d)", r.next, ErrReleased, w.First())
	}
	limit := int64(-1) // sealed: the whole file is durable
	if segFirst == w.diskSeg {
		limit = w.diskOff
	}
	w.mu.Unlock()

	if r.seg != nil && r.seg.first != segFirst {
		r.seg.close()
		r.seg = nil
	}
	if r.seg == nil {
		s, err := openSegFile(filepath.Join(w.dir, segmentName(segFirst)), segFirst)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("wal: read record %d: %w", r.next, ErrReleased)
		}
		if err != nil {
			return err
		}
		r.seg = s
	}
	r.segEnd = segEnd
	if limit < 0 {
		fi, err := r.seg.f.Stat()
		if err != nil {
			return fmt.Errorf("wal: read record %d: %w", r.next, err)
		}
		limit = fi.Size()
	}
	r.seg.end = limit
	// Skip to next: only forward within a segment.
	for r.seg.idx < r.next {
		off := r.seg.off
		if _, err := r.seg.next(); err != nil {
			if errors.Is(err, io.EOF) {
				err = errShortFrame
			}
			if errors.Is(err, errShortFrame) || errors.Is(err, errChecksum) {
				err = &CorruptionError{Segment: r.seg.path, Offset: off, Index: r.seg.idx, Err: err}
			}
			return err
		}
	}
	return nil
}

// Close releases the Reader's file. Next then returns ErrClosed.
func (r *Reader) Close() error {
	r.closed = true
	err := r.seg.close()
	r.seg = nil
	return err
}

// Scan calls fn for each durable record from max(from, First()) up to
// Synced() as of the call, in index order. rec is valid only during fn and
// must not be modified. Scan stops at the first error fn returns and
// returns it. It is safe to call concurrently with everything else,
// including after Close; a record released during the scan gives an error
// wrapping ErrReleased.
func (w *WAL) Scan(from uint64, fn func(idx uint64, rec []byte) error) error {
	w.mu.Lock()
	end := w.synced
	w.mu.Unlock()
	r := w.NewReader(from)
	defer r.Close()
	for r.next <= end {
		idx, rec, err := r.Next(context.Background()) // never blocks: idx <= synced
		if err != nil {
			return err
		}
		if err := fn(idx, rec); err != nil {
			return err
		}
	}
	return nil
}
