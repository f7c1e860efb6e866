package wal

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// run is the flusher: the only goroutine that writes segment files. Each
// round it takes every pending chunk (swapping in the previous round's
// buffers, so appends never wait for I/O), writes them, fdatasyncs once and
// publishes the new durable index to every Sync and Reader waiting for it.
func (w *WAL) run() {
	defer close(w.done)
	w.mu.Lock()
	for {
		for len(w.pending) == 0 && !w.closing {
			w.flushCond.Wait()
		}
		if len(w.pending) == 0 {
			break // closing, and everything is written
		}
		batch := w.pending
		w.pending, w.spare = w.spare[:0], nil
		last := w.next - 1 // every appended record is durable or in batch
		failed := w.err != nil
		w.flushing = true
		w.mu.Unlock()

		var err error
		rotated := false
		if !failed {
			rotated, err = w.flush(batch)
		}
		for i := range batch {
			if cap(batch[i].data) > chunkSize {
				batch[i].data = nil
			} else {
				batch[i].data = batch[i].data[:0]
			}
		}

		w.mu.Lock()
		w.flushing = false
		w.spare = batch[:0]
		if err != nil && w.err == nil {
			w.err = err
			w.log.Error("wal: write failed; refusing further appends, reopen the WAL to recover", "err", err)
			close(w.spaceCh) // wake WaitSpace callers to see the error
			w.spaceCh = make(chan struct{})
		}
		if w.err == nil {
			w.synced = last
			w.diskSeg, w.diskOff = w.fFirst, w.fOff
		}
		w.notifySyncedLocked()
		if rotated && w.err == nil {
			// A segment closed in this round may already be released.
			w.mu.Unlock()
			if err := w.gc(); err != nil {
				w.log.Warn("wal: deleting released segments failed", "err", err)
			}
			w.mu.Lock()
		}
	}
	if w.f != nil {
		if err := w.f.Close(); err != nil && w.err == nil {
			w.err = fmt.Errorf("wal: close segment: %w", err)
		}
		w.f = nil
	}
	w.closed = true
	w.notifySyncedLocked()
	close(w.spaceCh)
	w.spaceCh = make(chan struct{})
	w.mu.Unlock()
}

// notifySyncedLocked wakes everything waiting for synced to change.
func (w *WAL) notifySyncedLocked() {
	close(w.syncedCh)
	w.syncedCh = make(chan struct{})
}

// flush writes a batch and makes it durable. It reports whether it started
// a new segment.
func (w *WAL) flush(batch []chunk) (rotated bool, err error) {
	for i := range batch {
		c := &batch[i]
		if c.newSeg {
			if err := w.rotate(c.first); err != nil {
				return rotated, err
			}
			rotated = true
		}
		if len(c.data) == 0 {
			continue
		}
		n, err := w.f.Write(c.data)
		w.fOff += int64(n)
		w.dirty = true
		if err != nil {
			return rotated, fmt.Errorf("wal: write segment %s: %w", w.f.Name(), err)
		}
	}
	if w.dirty {
		if err := w.syncData(); err != nil {
			return rotated, err
		}
	}
	return rotated, nil
}

// slowSync is how long an fsync may take before it is logged.
const slowSync = 100 * time.Millisecond

func (w *WAL) syncData() error {
	w.fsyncs.Add(1)
	start := time.Now()
	err := fdatasync(w.f)
	if d := time.Since(start); d > slowSync {
		w.log.Warn("wal: slow fsync: acknowledgements waited for the disk", "took", d, "segment", w.f.Name())
	}
	if w.testHookSync != nil && err == nil {
		err = w.testHookSync()
	}
	if err != nil {
		return fmt.Errorf("wal: sync segment: %w", err)
	}
	w.dirty = false
	return nil
}

// rotate seals the current segment (its data durable, file closed) and
// makes a new segment starting at first the one being written.
func (w *WAL) rotate(first uint64) error {
	if w.dirty {
		if err := w.syncData(); err != nil {
			return err
		}
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("wal: close segment: %w", err)
	}
	w.f = nil
	f, err := createSegment(w.dir, first)
	if err != nil {
		return err
	}
	w.f, w.fFirst, w.fOff = f, first, headerSize
	return nil
}

// createSegment creates the segment file for first index first, holding
// only its header, durably: the header is written and fsync'd under a
// temporary name, renamed into place, and the directory fsync'd. A segment
// file with a bad header therefore never comes from a crash. The returned
// file is open for appending.
func createSegment(dir string, first uint64) (*os.File, error) {
	name := filepath.Join(dir, segmentName(first))
	tmp := name + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("wal: create segment: %w", err)
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("wal: create segment %s: %w", name, err)
	}
	if _, err := f.Write(encodeHeader(first)); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("wal: create segment %s: %w", name, err)
	}
	return f, nil
}
