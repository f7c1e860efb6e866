package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strconv"
	"strings"
)

// On-disk format; docs/wal.md is the reference and must change with this file.
const (
	// segmentMagic opens every segment file.
	segmentMagic = "KWAL"
	// formatVersion is the only segment format this package reads and writes.
	formatVersion = 1
	// headerSize is the size of a segment header:
	// magic[4] version[1] reserved[3] firstIndex[8] crc32c[4].
	headerSize = 20
	// frameHeaderSize is the size of a record frame header:
	// length[4] crc32c[4], followed by length payload bytes.
	frameHeaderSize = 8
	// maxRecordSize is the largest record payload a frame can describe.
	maxRecordSize = 1<<32 - 1

	segmentSuffix = ".wal"
	tmpSuffix     = ".tmp"
	// segmentNameLen is len("%020d.wal").
	segmentNameLen = 20 + len(segmentSuffix)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentName returns the file name of the segment whose first record has
// index first.
func segmentName(first uint64) string {
	return fmt.Sprintf("%020d%s", first, segmentSuffix)
}

// parseSegmentName returns the first index carried by a segment file name,
// and false for any other file name.
func parseSegmentName(name string) (uint64, bool) {
	if len(name) != segmentNameLen || !strings.HasSuffix(name, segmentSuffix) {
		return 0, false
	}
	digits := name[:20]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

// encodeHeader returns the header of a segment whose first index is first.
func encodeHeader(first uint64) []byte {
	h := make([]byte, headerSize)
	copy(h, segmentMagic)
	h[4] = formatVersion
	binary.LittleEndian.PutUint64(h[8:16], first)
	binary.LittleEndian.PutUint32(h[16:20], crc32.Checksum(h[:16], castagnoli))
	return h
}

// decodeHeader checks a segment header and returns its first index.
func decodeHeader(h []byte) (uint64, error) {
	if len(h) < headerSize {
		return 0, fmt.Errorf("short segment header: %d of %d bytes", len(h), headerSize)
	}
	if string(h[:4]) != segmentMagic {
		return 0, fmt.Errorf("bad segment magic %q", h[:4])
	}
	if got, want := binary.LittleEndian.Uint32(h[16:20]), crc32.Checksum(h[:16], castagnoli); got != want {
		return 0, fmt.Errorf("segment header checksum mismatch: stored %08x, computed %08x", got, want)
	}
	if h[4] != formatVersion {
		return 0, fmt.Errorf("unsupported segment format version %d (this build reads version %d)", h[4], formatVersion)
	}
	return binary.LittleEndian.Uint64(h[8:16]), nil
}

// appendFrame appends the frame of rec to dst.
func appendFrame(dst, rec []byte) []byte {
	start := len(dst)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(len(rec)))
	// Checksum the length bytes where they already are: a local array would
	// escape through crc32 and cost an allocation per record.
	crc := frameCRC(dst[start:], rec)
	dst = binary.LittleEndian.AppendUint32(dst, crc)
	return append(dst, rec...)
}

// frameCRC computes the checksum stored in a frame: CRC-32C over the four
// length bytes followed by the payload.
func frameCRC(lenBytes, payload []byte) uint32 {
	return crc32.Update(crc32.Update(0, castagnoli, lenBytes), castagnoli, payload)
}

// Errors found while decoding frames; CorruptionError.Err wraps one of these
// or an I/O error.
var (
	errShortFrame  = errors.New("truncated record frame")
	errChecksum    = errors.New("record checksum mismatch")
	errIndexGap    = errors.New("segment does not continue the index sequence of the previous segment")
	errBadHeader   = errors.New("bad segment header")
	errHeaderIndex = errors.New("segment header index does not match its file name")
)

// checkFrame decodes the frame at the start of b. It returns the payload and
// the frame's total length, or errShortFrame when b ends inside the frame and
// errChecksum when the frame is complete but its checksum does not match.
func checkFrame(b []byte) (payload []byte, n int, err error) {
	if len(b) < frameHeaderSize {
		return nil, 0, errShortFrame
	}
	l := uint64(binary.LittleEndian.Uint32(b[0:4]))
	if l > uint64(len(b)-frameHeaderSize) {
		return nil, 0, errShortFrame
	}
	end := frameHeaderSize + int(l)
	payload = b[frameHeaderSize:end]
	if binary.LittleEndian.Uint32(b[4:8]) != frameCRC(b[0:4], payload) {
		return nil, 0, errChecksum
	}
	return payload, end, nil
}

// CorruptionError reports a segment whose contents cannot be trusted. Open
// returns it for damage it cannot attribute to a torn final write (unless
// Options.Repair is set); readers return it when a durable record fails its
// checksum.
type CorruptionError struct {
	Segment string // segment file path
	Offset  int64  // byte offset of the damaged frame or header in Segment
	Index   uint64 // index the damaged record has or would have had
	Err     error  // what was wrong
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("wal: corrupt segment %s at offset %d (record %d): %v; open with Options.Repair to truncate the log there, losing later records",
		e.Segment, e.Offset, e.Index, e.Err)
}

func (e *CorruptionError) Unwrap() error { return e.Err }
