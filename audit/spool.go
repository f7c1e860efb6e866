package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// spool is a Client's on-disk queue: numbered segment files of JSON lines
// and a cursor naming the first line not yet acknowledged.
//
//	SPOOL/LOCK                    flock'd while a Client uses the directory
//	SPOOL/00000000000000000007.ndjson
//	SPOOL/cursor                  "SEGMENT OFFSET\n"; rewritten after each ack
//
// The Logger's goroutine appends (write, sync); the sender reads from the
// cursor up to what has been written out, and acks. Segments wholly before
// the cursor are removed. A crash can leave a torn last line in the newest
// segment; it was never synced, so it is dropped on reading.
type spool struct {
	dir    string
	segMax int64
	log    *slog.Logger
	lock   *os.File

	// writer side (the Logger's goroutine)
	wf    *os.File
	wbuf  *bufio.Writer
	wseg  uint64
	wsize int64 // bytes written to wseg, buffered included

	mu     sync.Mutex // guards pub and the reader's segment list
	pubSeg uint64     // written out (visible to the reader) up to pubSeg:pubOff
	pubOff int64

	// reader side (the sender goroutine)
	rseg  uint64
	roff  int64
	rf    *os.File
	next  int64 // offset after the batch last read (ack moves roff there)
	rbuf  []byte
	bytes atomic.Int64 // written and not acknowledged
}

func openSpool(dir string, segMax int64, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit: create spool: %w", err)
	}
	lock, err := lockDir(filepath.Join(dir, "LOCK"))
	if err != nil {
		return nil, err
	}
	s := &spool{dir: dir, segMax: segMax, log: log, lock: lock}
	segs, err := s.segments()
	if err != nil {
		lock.Close()
		return nil, err
	}
	s.rseg, s.roff = s.readCursor()
	var left int64
	first := true
	for _, n := range segs {
		if n < s.rseg {
			os.Remove(s.segPath(n))
			continue
		}
		if first && n > s.rseg { // the cursor's segment is gone
			s.rseg, s.roff = n, 0
		}
		first = false
		fi, err := os.Stat(s.segPath(n))
		if err != nil {
			continue
		}
		size := fi.Size()
		if n == s.rseg {
			size -= s.roff
		}
		left += max(size, 0)
	}
	s.bytes.Store(left)
	// Always write into a new segment: an old last segment may end torn.
	s.wseg = max(s.rseg, lastSeg(segs)+1)
	if err := s.rotate(); err != nil {
		lock.Close()
		return nil, err
	}
	if len(segs) == 0 {
		s.rseg, s.roff = s.wseg, 0
	}
	if left > 0 {
		log.Info("audit: spool holds events from an earlier run; sending them first", "spool", dir, "bytes", left)
	}
	return s, nil
}

func lastSeg(segs []uint64) uint64 {
	if len(segs) == 0 {
		return 0
	}
	return segs[len(segs)-1]
}

func (s *spool) segPath(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d.ndjson", n))
}

func (s *spool) segments() ([]uint64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("audit: read spool: %w", err)
	}
	var segs []uint64
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".ndjson")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			segs = append(segs, n)
		}
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i] < segs[j] })
	return segs, nil
}

func (s *spool) readCursor() (uint64, int64) {
	b, err := os.ReadFile(filepath.Join(s.dir, "cursor"))
	if err != nil {
		return 0, 0
	}
	var seg uint64
	var off int64
	if _, err := fmt.Sscanf(string(b), "%d %d", &seg, &off); err != nil {
		s.log.Warn("audit: spool cursor unreadable; sending the whole spool again (kansa drops duplicates)", "spool", s.dir, "err", err)
		return 0, 0
	}
	return seg, off
}

// pending returns the bytes written and not acknowledged.
func (s *spool) pending() int64 { return s.bytes.Load() }

// write appends one line (writer side).
func (s *spool) write(line []byte) error {
	if s.wsize >= s.segMax {
		if err := s.flush(); err != nil {
			return err
		}
		if err := s.wf.Sync(); err != nil {
			return fmt.Errorf("audit: sync spool: %w", err)
		}
		if err := s.wf.Close(); err != nil {
			return fmt.Errorf("audit: close spool segment: %w", err)
		}
		s.wseg++
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if _, err := s.wbuf.Write(line); err != nil {
		return fmt.Errorf("audit: write spool: %w", err)
	}
	s.wsize += int64(len(line))
	s.bytes.Add(int64(len(line)))
	return nil
}

func (s *spool) rotate() error {
	f, err := os.OpenFile(s.segPath(s.wseg), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("audit: create spool segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		return err
	}
	s.wf, s.wsize = f, 0
	if s.wbuf == nil {
		s.wbuf = bufio.NewWriterSize(f, 64<<10)
	} else {
		s.wbuf.Reset(f)
	}
	s.mu.Lock()
	s.pubSeg, s.pubOff = s.wseg, 0
	s.mu.Unlock()
	return nil
}

// flush writes the buffer out and makes it visible to the reader.
func (s *spool) flush() error {
	if err := s.wbuf.Flush(); err != nil {
		return fmt.Errorf("audit: write spool: %w", err)
	}
	s.mu.Lock()
	s.pubSeg, s.pubOff = s.wseg, s.wsize
	s.mu.Unlock()
	return nil
}

// sync flushes and fsyncs (writer side).
func (s *spool) sync() error {
	if s.wf == nil {
		return nil
	}
	if err := s.flush(); err != nil {
		return err
	}
	if err := s.wf.Sync(); err != nil {
		return fmt.Errorf("audit: sync spool: %w", err)
	}
	return nil
}

// read appends to dst whole lines from the cursor, up to limit bytes (at
// least one line), and returns them and their count (reader side). The next
// ack moves the cursor past them; unread forgets them.
func (s *spool) read(dst []byte, limit int) ([]byte, int, error) {
	for {
		s.mu.Lock()
		pubSeg, pubOff := s.pubSeg, s.pubOff
		s.mu.Unlock()
		end := int64(-1) // to the end of the file: an older, closed segment
		if s.rseg == pubSeg {
			end = pubOff
		} else if s.rseg > pubSeg {
			return dst, 0, nil
		}
		if s.rf == nil {
			f, err := os.Open(s.segPath(s.rseg))
			if errors.Is(err, os.ErrNotExist) && s.rseg < pubSeg {
				s.rseg, s.roff = s.rseg+1, 0
				continue
			}
			if err != nil {
				return dst, 0, fmt.Errorf("open spool segment: %w", err)
			}
			s.rf = f
		}
		avail := int64(limit)
		if end >= 0 {
			avail = min(avail, end-s.roff)
		}
		if avail <= 0 {
			if end >= 0 {
				return dst, 0, nil // caught up with the writer
			}
			s.nextSegment()
			continue
		}
		if cap(s.rbuf) < int(avail) {
			s.rbuf = make([]byte, avail)
		}
		buf := s.rbuf[:avail]
		m, err := s.rf.ReadAt(buf, s.roff)
		if err != nil && err != io.EOF {
			return dst, 0, fmt.Errorf("read spool segment: %w", err)
		}
		buf = buf[:m]
		cut := lastNewline(buf)
		if cut < 0 {
			if end < 0 && m < int(avail) { // closed segment ends in a torn line
				if m > 0 {
					s.log.Warn("audit: dropping a torn line at the end of a spool segment (never synced)",
						"segment", s.segPath(s.rseg), "bytes", m)
					s.bytes.Add(-int64(m))
				}
				s.nextSegment()
				continue
			}
			if m == int(avail) && avail == int64(limit) { // one line longer than limit
				limit *= 2
				continue
			}
			return dst, 0, nil
		}
		if m == 0 {
			s.nextSegment()
			continue
		}
		lines := buf[:cut+1]
		s.next = s.roff + int64(len(lines))
		return append(dst, lines...), countLines(lines), nil
	}
}

func (s *spool) nextSegment() {
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	old := s.rseg
	s.rseg, s.roff = s.rseg+1, 0
	os.Remove(s.segPath(old))
	s.saveCursor()
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// ack moves the cursor past the lines last read (reader side).
func (s *spool) ack() error {
	s.bytes.Add(-(s.next - s.roff))
	s.roff = s.next
	return s.saveCursor()
}

// unread forgets the lines last read: they will be read again.
func (s *spool) unread() { s.next = s.roff }

// saveCursor records the cursor. It is not fsync'd: losing it sends
// acknowledged lines again, which kansa deduplicates.
func (s *spool) saveCursor() error {
	tmp := filepath.Join(s.dir, "cursor.tmp")
	data := strconv.AppendUint(nil, s.rseg, 10)
	data = append(data, ' ')
	data = strconv.AppendInt(data, s.roff, 10)
	data = append(data, '\n')
	if err := os.WriteFile(tmp, data, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.dir, "cursor"))
}

func (s *spool) close() error {
	var err error
	if s.wf != nil {
		err = s.sync()
		err = errors.Join(err, s.wf.Close())
		s.wf = nil
	}
	if s.rf != nil {
		s.rf.Close()
		s.rf = nil
	}
	if s.lock != nil {
		err = errors.Join(err, s.lock.Close())
		s.lock = nil
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("audit: sync spool directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("audit: sync spool directory: %w", err)
	}
	return nil
}
