package wal

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
)

// Options configures a WAL. The zero value is valid: 64 MiB segments, no
// size bound, no repair, no logging.
type Options struct {
	// SegmentSize is the target size in bytes of a segment file, header
	// included; 0 means 64 MiB. A record never spans segments: a segment is
	// closed when the next record would take it past SegmentSize, and a
	// record larger than SegmentSize gets a segment of its own.
	SegmentSize int64
	// MaxSize bounds Size, the total bytes of all segments including
	// appended-but-unwritten records; 0 means unlimited. An Append that
	// would exceed it fails with ErrFull and changes nothing.
	MaxSize int64
	// Repair makes Open truncate the log at damage it cannot attribute to a
	// torn final write (a bad record before the tail, a bad segment header,
	// a gap between segments), deleting every later record and logging how
	// much was lost, instead of failing with *CorruptionError. Indexes of
	// lost records are assigned again to new appends.
	Repair bool
	// Logger receives recovery and failure reports; nil discards them.
	Logger *slog.Logger
}

// DefaultSegmentSize is the segment size used when Options.SegmentSize is 0.
const DefaultSegmentSize = 64 << 20

var (
	// ErrFull is returned by Append when the records would take Size past
	// Options.MaxSize. Nothing was appended; Release records (or wait for
	// someone to, with WaitSpace) and retry.
	ErrFull = errors.New("wal: full (Options.MaxSize reached); release archived records and retry")
	// ErrClosed is returned by operations on a closed WAL or Reader.
	ErrClosed = errors.New("wal: closed")
	// ErrReleased is wrapped by the error a Reader returns when the record
	// it should read next has been released and its segment deleted. Start
	// a new Reader at WAL.First to continue.
	ErrReleased = errors.New("wal: record already released")
	// ErrTooLarge is returned by Append when a record exceeds 4 GiB - 1
	// bytes, or when a group of records could never fit in Options.MaxSize
	// even if everything else were released. Retrying cannot succeed.
	ErrTooLarge = errors.New("wal: records too large for the log")
)

// chunkSize is the capacity of an append buffer. Append fills one chunk and
// starts the next rather than growing a buffer, so a burst costs no copying,
// and the flusher hands emptied chunks back for reuse. A chunk grows past
// chunkSize only to hold one frame larger than it, and such a chunk is
// dropped after the flush.
const chunkSize = 1 << 20

// segment is the in-memory view of one segment file.
type segment struct {
	first uint64 // index of the first record, from the file name
	size  int64  // bytes: header plus every frame appended to it, written or not
}

// chunk is a run of encoded frames waiting for the flusher.
type chunk struct {
	newSeg bool   // the flusher must start segment first before writing data
	first  uint64 // index of the first record in data
	data   []byte // frames, back to back
}

// WAL is a write-ahead log of opaque records in segment files in one
// directory. Every method is safe for concurrent use. Appended records are
// written and fsync'd by one background goroutine (group commit); a record
// is durable once Synced reports its index, and only durable records are
// ever visible to Scan and Readers.
//
// One WAL must own a directory: opening the same directory twice, in one
// process or two, corrupts it. This is not checked.
type WAL struct {
	dir         string
	segmentSize int64
	maxSize     int64
	log         *slog.Logger

	mu        sync.Mutex
	flushCond sync.Cond // on mu; signalled when pending gains chunks or closing is set
	segs      []segment // retained segments by index; the last is the one being appended to
	next      uint64    // index of the next appended record
	size      int64     // sum of segs[i].size
	pending   []chunk   // appended, not yet handed to the flusher
	spare     []chunk   // the flusher's previous batch, for reuse as pending
	flushing  bool      // the flusher is writing a batch
	synced    uint64    // highest durable index
	diskSeg   uint64    // first index of the segment file the flusher writes to
	diskOff   int64     // durable length of that file; earlier segments are durable whole
	released  uint64    // highest index passed to Release, capped at synced
	full      bool      // an Append failed with ErrFull since the last deletion
	err       error     // sticky write/fsync failure
	closing   bool      // Close was called: refuse new work
	closed    bool      // the flusher has written everything and stopped
	syncedCh  chan struct{}
	spaceCh   chan struct{}
	done      chan struct{}

	gcMu sync.Mutex // serialises segment deletion

	// Owned by the flusher goroutine (by Open before it starts).
	f      *os.File
	fFirst uint64
	fOff   int64
	dirty  bool

	fsyncs       atomic.Int64 // fdatasync calls on segment data, for tests
	testHookSync func() error // if set, runs after each data fdatasync; an error fails it
}

// Append copies recs into the log and assigns them consecutive indexes,
// returning the first and last. The caller keeps ownership of recs and may
// reuse them on return. The group is appended atomically: either every
// record gets an index or, on error, none does.
//
// Records are not durable on return: call Sync(ctx, last) before
// acknowledging them. Append never does I/O; it wakes the flusher, which
// writes and fsyncs in the background.
//
// An empty recs is a no-op returning (0, 0, nil). Append returns ErrFull
// when Options.MaxSize would be exceeded, ErrTooLarge when it always will,
// ErrClosed after Close, and the sticky error after a failed write or fsync.
func (w *WAL) Append(recs [][]byte) (first, last uint64, err error) {
	if len(recs) == 0 {
		return 0, 0, nil
	}
	w.mu.Lock()
	if err := w.refuseLocked(); err != nil {
		w.mu.Unlock()
		return 0, 0, err
	}
	// Pass 1: sizes and rotations, so the group is all or nothing.
	segSize := w.segs[len(w.segs)-1].size
	var grow int64
	for _, r := range recs {
		if uint64(len(r)) > maxRecordSize {
			w.mu.Unlock()
			return 0, 0, ErrTooLarge
		}
		n := int64(frameHeaderSize + len(r))
		if segSize > headerSize && segSize+n > w.segmentSize {
			segSize = headerSize
			grow += headerSize
		}
		segSize += n
		grow += n
	}
	if w.maxSize > 0 && w.size+grow > w.maxSize {
		err := ErrTooLarge
		if grow <= w.maxSize-headerSize {
			w.full = true
			err = ErrFull
		}
		w.mu.Unlock()
		return 0, 0, err
	}
	// Pass 2: copy.
	first = w.next
	active := &w.segs[len(w.segs)-1]
	var c *chunk
	if len(w.pending) == 0 {
		c = w.addChunkLocked(false, w.next)
	} else {
		c = &w.pending[len(w.pending)-1]
	}
	for _, r := range recs {
		n := int64(frameHeaderSize + len(r))
		if active.size > headerSize && active.size+n > w.segmentSize {
			w.segs = append(w.segs, segment{first: w.next, size: headerSize})
			active = &w.segs[len(w.segs)-1]
			c = w.addChunkLocked(true, w.next)
		} else if len(c.data) > 0 && len(c.data)+int(n) > cap(c.data) {
			c = w.addChunkLocked(false, w.next)
		}
		c.data = appendFrame(c.data, r)
		active.size += n
		w.next++
	}
	w.size += grow
	last = w.next - 1
	if !w.flushing {
		w.flushCond.Signal()
	}
	w.mu.Unlock()
	return first, last, nil
}

// refuseLocked returns the error new work must fail with, if any.
func (w *WAL) refuseLocked() error {
	if w.closing {
		return ErrClosed
	}
	return w.err
}

// addChunkLocked appends a chunk to pending, reusing the buffer a previous
// batch left in that slot.
func (w *WAL) addChunkLocked(newSeg bool, first uint64) *chunk {
	n := len(w.pending)
	if n < cap(w.pending) {
		w.pending = w.pending[:n+1]
	} else {
		w.pending = append(w.pending, chunk{})
	}
	c := &w.pending[n]
	c.newSeg, c.first, c.data = newSeg, first, c.data[:0]
	if cap(c.data) < chunkSize {
		c.data = make([]byte, 0, chunkSize)
	}
	return c
}

// Sync blocks until every record with index <= idx has been written and
// fsync'd; an idx beyond Last is taken as Last. All waiting callers share
// the background flusher's fsyncs (group commit), so a Sync costs at most
// about two fsync latencies however many callers wait.
//
// If ctx is done first Sync returns ctx.Err(); the records still become
// durable later. After a write or fsync failure Sync returns that error for
// every record not already durable (fsync failures are not retryable: Close
// the WAL and Open it again). After Close it returns ErrClosed for records
// that did not become durable.
func (w *WAL) Sync(ctx context.Context, idx uint64) error {
	w.mu.Lock()
	if idx > w.next-1 {
		idx = w.next - 1
	}
	err := w.waitSyncedLocked(ctx, idx)
	w.mu.Unlock()
	return err
}

// waitSyncedLocked waits until every record <= idx is durable. It is called
// with w.mu held and returns with it held; it releases it while waiting. It
// returns the sticky error, ErrClosed, or ctx.Err() if those come first.
func (w *WAL) waitSyncedLocked(ctx context.Context, idx uint64) error {
	for w.synced < idx {
		if w.err != nil {
			return w.err
		}
		if w.closed {
			return ErrClosed
		}
		ch := w.syncedCh
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			w.mu.Lock()
			return ctx.Err()
		}
		w.mu.Lock()
	}
	return nil
}

// Synced returns the highest durable index, 0 if none.
func (w *WAL) Synced() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.synced
}

// Last returns the highest appended index, 0 if none was ever appended.
func (w *WAL) Last() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.next - 1
}

// First returns the lowest index still retained on disk, or Last()+1 when
// no record is retained. Records below it were released and deleted.
// Released records in a segment that also holds unreleased ones, or in the
// segment being appended to, stay retained.
func (w *WAL) First() uint64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.segs[0].first
}

// Size returns the bytes of all segment files, counting records that were
// appended but not yet written (and headers of segments they will start) as
// if they were on disk. This is the quantity Options.MaxSize bounds.
func (w *WAL) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.size
}

// WaitSpace blocks until a Release has deleted segments since the last
// Append that failed with ErrFull, and returns nil; it returns at once if
// no ErrFull is outstanding. It returns ctx.Err() if ctx is done first,
// ErrClosed if the WAL is closed and the sticky error if it failed. Callers
// implementing a "block when full" policy loop on Append and WaitSpace.
func (w *WAL) WaitSpace(ctx context.Context) error {
	w.mu.Lock()
	for w.full {
		if err := w.refuseLocked(); err != nil {
			w.mu.Unlock()
			return err
		}
		ch := w.spaceCh
		w.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
		w.mu.Lock()
	}
	w.mu.Unlock()
	return nil
}

// Release declares that records with index <= idx are no longer needed
// (idx is capped at Synced). It deletes, oldest first, every whole segment
// whose records are all released, never the segment being appended to, and
// wakes WaitSpace callers when it deleted something. Records in a segment
// that still holds unreleased records stay readable.
//
// When an Append has failed with ErrFull and every appended record is
// released, Release also starts a new segment so that the previous one can
// be deleted once the flusher has closed it; without this a log whose
// MaxSize is near SegmentSize could never make room.
//
// Readers positioned in a deleted segment keep reading it; a Reader that
// has not yet opened it gets an error wrapping ErrReleased.
func (w *WAL) Release(idx uint64) error {
	w.mu.Lock()
	if err := w.refuseLocked(); err != nil {
		w.mu.Unlock()
		return err
	}
	if idx > w.synced {
		idx = w.synced
	}
	if idx > w.released {
		w.released = idx
	}
	if w.full && w.released == w.next-1 && w.segs[len(w.segs)-1].size > headerSize {
		w.segs = append(w.segs, segment{first: w.next, size: headerSize})
		w.size += headerSize
		w.addChunkLocked(true, w.next)
		if !w.flushing {
			w.flushCond.Signal()
		}
	}
	w.mu.Unlock()
	return w.gc()
}

// gc deletes the leading segments whose records are all released and which
// the flusher no longer writes to.
func (w *WAL) gc() error {
	w.gcMu.Lock()
	defer w.gcMu.Unlock()

	w.mu.Lock()
	var victims []uint64
	for i := 0; i < len(w.segs)-1; i++ {
		s, nextFirst := w.segs[i], w.segs[i+1].first
		if s.first >= w.diskSeg || nextFirst-1 > w.released {
			break
		}
		victims = append(victims, s.first)
	}
	w.mu.Unlock()
	if len(victims) == 0 {
		return nil
	}

	var err error
	removed := 0
	for _, first := range victims {
		p := filepath.Join(w.dir, segmentName(first))
		if e := os.Remove(p); e != nil && !errors.Is(e, fs.ErrNotExist) {
			err = e
			break
		}
		removed++
	}
	if removed > 0 {
		if e := syncDir(w.dir); e != nil && err == nil {
			err = e
		}
	}

	w.mu.Lock()
	var freed int64
	for i := 0; i < removed; i++ {
		freed += w.segs[i].size
	}
	w.size -= freed
	w.segs = append(w.segs[:0], w.segs[removed:]...)
	if removed > 0 {
		w.full = false
		close(w.spaceCh)
		w.spaceCh = make(chan struct{})
	}
	w.mu.Unlock()
	if removed > 0 {
		w.log.Debug("wal: released segments", "segments", removed, "bytes", freed, "first_retained", victims[removed-1]+1)
	}
	return err
}

// Close writes and fsyncs every appended record, stops the flusher and
// closes the active segment. It returns the sticky error if a write or
// fsync failed. Close is idempotent: later calls return nil. After Close,
// Append and Release return ErrClosed, while Scan and Readers can still read
// every durable record.
func (w *WAL) Close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		<-w.done
		return nil
	}
	w.closing = true
	w.flushCond.Signal()
	w.mu.Unlock()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// syncDir fsyncs a directory so that file creations, renames and removals
// in it are durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &fs.PathError{Op: "fsync directory", Path: dir, Err: err}
	}
	return nil
}
