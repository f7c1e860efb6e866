package wal

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// Open opens the WAL in dir, creating dir if it is missing, and recovers it:
// every segment is read and checked in index order.
//
//   - A truncated or damaged record at the end of the last segment, with no
//     valid record after it, is a write torn by a crash: the file is
//     truncated there (logged at Warn with the byte count) and Open goes on.
//     Such records were never reported durable.
//   - Any other damage (a bad record in an earlier segment, a bad record
//     followed by valid ones, a bad segment header, or a gap in the index
//     sequence between segments) returns *CorruptionError, unless
//     Options.Repair is set: then the log is cut at the damage, every later
//     record is deleted, and the loss is logged at Warn.
//
// The next appended record gets the index after the last recovered one, or 1
// for an empty directory. Everything recovered is durable on return. The
// caller must Close the WAL.
func Open(dir string, opts Options) (*WAL, error) {
	if opts.SegmentSize < 0 {
		return nil, fmt.Errorf("wal: Options.SegmentSize %d is negative", opts.SegmentSize)
	}
	if opts.MaxSize < 0 {
		return nil, fmt.Errorf("wal: Options.MaxSize %d is negative", opts.MaxSize)
	}
	w := &WAL{
		dir:         dir,
		segmentSize: opts.SegmentSize,
		maxSize:     opts.MaxSize,
		log:         opts.Logger,
		syncedCh:    make(chan struct{}),
		spaceCh:     make(chan struct{}),
		done:        make(chan struct{}),
	}
	if w.segmentSize == 0 {
		w.segmentSize = DefaultSegmentSize
	}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	w.flushCond.L = &w.mu
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("wal: create directory: %w", err)
	}
	if err := w.recover(opts.Repair); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// scanned is what recovery learned about one segment file.
type scanned struct {
	path   string
	first  uint64 // from the file name
	count  uint64 // valid records before any damage
	end    int64  // offset just past the last valid record
	size   int64  // file size
	bad    error  // nil, or what is wrong at badOff
	badOff int64
	after  int // valid frames found after the damage
}

func (sc *scanned) corruption() *CorruptionError {
	return &CorruptionError{Segment: sc.path, Offset: sc.badOff, Index: sc.first + sc.count, Err: sc.bad}
}

// recover scans dir and leaves w ready to append: segs, next, size, synced
// and the open active segment.
func (w *WAL) recover(repair bool) error {
	entries, err := os.ReadDir(w.dir)
	if err != nil {
		return fmt.Errorf("wal: read directory: %w", err)
	}
	var scans []scanned
	for _, e := range entries {
		name := e.Name()
		if strings.HasSuffix(name, segmentSuffix+tmpSuffix) {
			// A segment whose creation a crash interrupted; it held no records.
			if err := os.Remove(filepath.Join(w.dir, name)); err != nil {
				return fmt.Errorf("wal: remove leftover %s: %w", name, err)
			}
			continue
		}
		first, ok := parseSegmentName(name)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		sc, err := scanSegment(filepath.Join(w.dir, name), first)
		if err != nil {
			return err
		}
		scans = append(scans, sc) // ReadDir sorts by name: zero-padded names sort by index
	}

	if len(scans) == 0 {
		f, err := createSegment(w.dir, 1)
		if err != nil {
			return err
		}
		w.f, w.fFirst, w.fOff = f, 1, headerSize
		w.segs = []segment{{first: 1, size: headerSize}}
		w.next, w.size, w.diskSeg, w.diskOff = 1, headerSize, 1, headerSize
		return nil
	}

	keep := len(scans) // segments kept; the last of them may be cut at cut
	cut := int64(-1)
	for i := range scans {
		sc := &scans[i]
		var cerr *CorruptionError
		switch {
		case i > 0 && sc.first != scans[i-1].first+scans[i-1].count:
			want := scans[i-1].first + scans[i-1].count
			cerr = &CorruptionError{Segment: sc.path, Offset: 0, Index: want,
				Err: fmt.Errorf("%w: expected first record %d, segment starts at %d", errIndexGap, want, sc.first)}
			if repair {
				keep = i
			}
		case sc.bad == nil:
			continue
		case sc.badOff == 0:
			cerr = sc.corruption() // bad header
			if repair {
				keep = i
			}
		case i == len(scans)-1 && sc.after == 0:
			w.log.Warn("wal: truncating torn write at the end of the log",
				"segment", sc.path, "offset", sc.end, "bytes", sc.size-sc.end, "reason", sc.bad)
			keep, cut = i+1, sc.end
		default:
			cerr = sc.corruption()
			if repair {
				keep, cut = i+1, sc.end
			}
		}
		if cerr == nil {
			break
		}
		if !repair {
			return cerr
		}
		w.logRepair(cerr, scans[i:], keep == i)
		break
	}

	// Delete what repair dropped, newest first, so a crash midway leaves a
	// prefix of the log.
	for i := len(scans) - 1; i >= keep; i-- {
		if err := os.Remove(scans[i].path); err != nil {
			return fmt.Errorf("wal: repair: %w", err)
		}
	}
	if keep < len(scans) {
		if err := syncDir(w.dir); err != nil {
			return fmt.Errorf("wal: repair: %w", err)
		}
	}
	if keep == 0 {
		// Repair removed everything from the first segment on; start again
		// at its index.
		return w.startAt(scans[0].first)
	}
	scans = scans[:keep]

	last := &scans[len(scans)-1]
	f, err := os.OpenFile(last.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("wal: open segment: %w", err)
	}
	if cut >= 0 {
		if err := f.Truncate(cut); err != nil {
			f.Close()
			return fmt.Errorf("wal: truncate %s: %w", last.path, err)
		}
		last.size = cut
	}
	// Recovered bytes may so far only be in the page cache (the process, not
	// the machine, crashed); they must be durable before Synced says so.
	if err := fdatasync(f); err != nil {
		f.Close()
		return fmt.Errorf("wal: %w", err)
	}
	if err := syncDir(w.dir); err != nil {
		f.Close()
		return fmt.Errorf("wal: %w", err)
	}
	w.f, w.fFirst, w.fOff = f, last.first, last.size
	for _, sc := range scans {
		w.segs = append(w.segs, segment{first: sc.first, size: sc.size})
		w.size += sc.size
	}
	w.next = last.first + last.count
	w.synced = w.next - 1
	w.released = 0
	w.diskSeg, w.diskOff = last.first, last.size
	return nil
}

// startAt makes a fresh empty log whose next index is first.
func (w *WAL) startAt(first uint64) error {
	f, err := createSegment(w.dir, first)
	if err != nil {
		return err
	}
	w.f, w.fFirst, w.fOff = f, first, headerSize
	w.segs = []segment{{first: first, size: headerSize}}
	w.next, w.size, w.synced = first, headerSize, first-1
	w.diskSeg, w.diskOff = first, headerSize
	return nil
}

// logRepair reports what a repair at cerr loses: the rest of the damaged
// segment (all of it if whole) and every later segment.
func (w *WAL) logRepair(cerr *CorruptionError, rest []scanned, whole bool) {
	lostBytes := rest[0].size - rest[0].end
	lostRecords := uint64(rest[0].after)
	if whole {
		lostBytes = rest[0].size
		lostRecords = rest[0].count + uint64(rest[0].after)
	} else if rest[0].bad != nil {
		lostRecords++ // the damaged record itself
	}
	for _, sc := range rest[1:] {
		lostBytes += sc.size
		lostRecords += sc.count + uint64(sc.after)
	}
	w.log.Warn("wal: repairing corrupt log by truncation; records from the damage on are lost",
		"segment", cerr.Segment, "offset", cerr.Offset, "first_lost_index", cerr.Index,
		"lost_records_approx", lostRecords, "lost_bytes", lostBytes,
		"removed_segments", len(rest)-1+btoi(whole), "reason", cerr.Err)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// scanSegment reads a whole segment file and reports where its valid
// records end. Damage is reported in the result; only I/O failures are
// returned as errors.
func scanSegment(path string, first uint64) (scanned, error) {
	sc := scanned{path: path, first: first}
	s, err := openSegFile(path, first)
	var cerr *CorruptionError
	if errors.As(err, &cerr) {
		fi, serr := os.Stat(path)
		if serr != nil {
			return sc, fmt.Errorf("wal: %w", serr)
		}
		sc.size, sc.bad, sc.badOff = fi.Size(), cerr.Err, 0
		return sc, nil
	}
	if err != nil {
		return sc, fmt.Errorf("wal: open segment: %w", err)
	}
	defer s.close()
	fi, err := s.f.Stat()
	if err != nil {
		return sc, fmt.Errorf("wal: %w", err)
	}
	sc.size, s.end = fi.Size(), fi.Size()
	for {
		_, err := s.next()
		if err == nil {
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if !errors.Is(err, errShortFrame) && !errors.Is(err, errChecksum) {
			return sc, err
		}
		sc.bad, sc.badOff = err, s.off
		break
	}
	sc.count, sc.end = s.idx-first, s.off
	if sc.bad != nil {
		sc.after, err = validFramesAfter(s.f, sc.badOff+1, sc.size)
		if err != nil {
			return sc, fmt.Errorf("wal: read segment %s: %w", path, err)
		}
	}
	return sc, nil
}

// validFramesAfter looks for a valid frame starting anywhere in [from, size)
// and returns how many valid frames follow one another from the first one
// found; 0 means the bytes after a damaged record hold no record, as after a
// torn write.
func validFramesAfter(f *os.File, from, size int64) (int, error) {
	if from >= size {
		return 0, nil
	}
	b := make([]byte, size-from)
	if _, err := f.ReadAt(b, from); err != nil && !errors.Is(err, io.EOF) {
		return 0, err
	}
	for p := 0; p+frameHeaderSize <= len(b); p++ {
		_, n, err := checkFrame(b[p:])
		if err != nil {
			continue
		}
		count := 1
		for p += n; ; p += n {
			if _, n, err = checkFrame(b[p:]); err != nil {
				return count, nil
			}
			count++
		}
	}
	return 0, nil
}
