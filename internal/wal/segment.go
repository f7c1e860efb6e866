package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// readChunk is how many bytes a segFile reads from disk at a time.
const readChunk = 256 << 10

// segFile reads the frames of one segment file in order through a buffer.
// It never reads at or beyond end, so bytes that are not yet durable are
// never looked at.
type segFile struct {
	f      *os.File
	path   string
	first  uint64 // index of the segment's first record
	idx    uint64 // index of the frame at off
	off    int64  // file offset of the next frame
	end    int64  // readable length of the file
	buf    []byte // file bytes starting at bufOff
	bufOff int64
}

// openSegFile opens a segment and checks its header against the index in
// its name. Header damage is returned as *CorruptionError; a missing file as
// an error wrapping fs.ErrNotExist.
func openSegFile(path string, first uint64) (*segFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s := &segFile{f: f, path: path, first: first, idx: first, off: headerSize}
	if err := s.checkHeader(); err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func (s *segFile) checkHeader() error {
	var h [headerSize]byte
	n, err := s.f.ReadAt(h[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("wal: read segment header %s: %w", s.path, err)
	}
	got, err := decodeHeader(h[:n])
	if err != nil {
		return &CorruptionError{Segment: s.path, Offset: 0, Index: s.first, Err: fmt.Errorf("%w: %w", errBadHeader, err)}
	}
	if got != s.first {
		return &CorruptionError{Segment: s.path, Offset: 0, Index: s.first,
			Err: fmt.Errorf("%w: header says %d", errHeaderIndex, got)}
	}
	return nil
}

func (s *segFile) close() error {
	if s == nil || s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	return err
}

// next decodes the frame at off and advances past it. It returns io.EOF
// when off is exactly end, errShortFrame when end falls inside the frame,
// errChecksum when the frame is complete but damaged, or an I/O error. The
// payload aliases the buffer and is valid until the next call.
func (s *segFile) next() ([]byte, error) {
	if s.off == s.end {
		return nil, io.EOF
	}
	b, err := s.peek(frameHeaderSize)
	if err != nil {
		return nil, err
	}
	l := int64(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24)
	if b, err = s.peek(frameHeaderSize + l); err != nil {
		return nil, err
	}
	payload, n, err := checkFrame(b)
	if err != nil {
		return nil, err
	}
	s.off += int64(n)
	s.idx++
	return payload, nil
}

// peek returns the n bytes at off, reading them if they are not buffered.
func (s *segFile) peek(n int64) ([]byte, error) {
	if s.off+n > s.end {
		return nil, errShortFrame
	}
	start := s.off - s.bufOff
	if start >= 0 && start+n <= int64(len(s.buf)) {
		return s.buf[start : start+n], nil
	}
	// Keep the buffered bytes from off on, at the front of the buffer.
	if start >= 0 && start < int64(len(s.buf)) {
		s.buf = s.buf[:copy(s.buf, s.buf[start:])]
	} else {
		s.buf = s.buf[:0]
	}
	s.bufOff = s.off
	want := max(n, readChunk)
	if int64(cap(s.buf)) < want {
		nb := make([]byte, len(s.buf), want)
		copy(nb, s.buf)
		s.buf = nb
	}
	have := int64(len(s.buf))
	upto := min(int64(cap(s.buf)), s.end-s.bufOff)
	m, err := s.f.ReadAt(s.buf[have:upto], s.bufOff+have)
	s.buf = s.buf[:have+int64(m)]
	if int64(len(s.buf)) < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the file is shorter than it was
		}
		return nil, fmt.Errorf("wal: read segment %s at offset %d: %w", s.path, s.bufOff, err)
	}
	return s.buf[:n], nil
}
