// Package record encodes what kansa writes into its WAL. The WAL itself only
// knows bytes; this package gives them meaning.
//
// Three kinds of record exist:
//
//   - Event: one audit event, its encoded JSON line plus a small binary
//     header (event time, tenant, source) so that batching and partitioning
//     never re-parse the JSON;
//   - Reject: a line that was routed to audit but could not become an event,
//     with the reason, bound for the archive's error output;
//   - Batch: the boundaries of one archive batch, written before the batch is
//     delivered, so that after a crash the same batch is rebuilt from the same
//     records.
//
// Layout, all integers little-endian or unsigned varints:
//
//	Event, Reject: type(1) | time µs since Unix epoch (8) | uvarint len + tenant | uvarint len + source |
//	               uvarint len + seq stream | uvarint seq n | body
//	Batch:         type(1) | uvarint len + sink | uvarint first | uvarint last | closed µs (8)
//
// For Event the body is the event's JSON and seq repeats the event's
// seq.stream and seq.n (empty and 0 when it has none), so manifests can sum up
// streams without parsing JSON; for Reject the body is a JSON object
// {"error_type","error",…,"line"}, time is when kansa received the line, and
// seq is empty.
package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Type is the first byte of every record.
type Type byte

const (
	TypeEvent  Type = 1
	TypeReject Type = 2
	TypeBatch  Type = 3
)

func (t Type) String() string {
	switch t {
	case TypeEvent:
		return "event"
	case TypeReject:
		return "reject"
	case TypeBatch:
		return "batch"
	}
	return fmt.Sprintf("type(%d)", byte(t))
}

// ErrCorrupt reports a record that does not decode.
var ErrCorrupt = errors.New("corrupt record")

// Entry is a decoded Event or Reject record. Its slices alias the record.
type Entry struct {
	Type   Type
	Time   int64 // µs since the Unix epoch, UTC
	Tenant []byte
	Source []byte
	Stream []byte // seq.stream, or empty
	N      uint64 // seq.n, or 0
	Body   []byte
}

// AppendEntry appends an Event or Reject record to dst.
func AppendEntry(dst []byte, typ Type, t time.Time, tenant, source, stream string, n uint64, body []byte) []byte {
	dst = append(dst, byte(typ))
	dst = binary.LittleEndian.AppendUint64(dst, uint64(t.UnixMicro()))
	dst = binary.AppendUvarint(dst, uint64(len(tenant)))
	dst = append(dst, tenant...)
	dst = binary.AppendUvarint(dst, uint64(len(source)))
	dst = append(dst, source...)
	dst = binary.AppendUvarint(dst, uint64(len(stream)))
	dst = append(dst, stream...)
	dst = binary.AppendUvarint(dst, n)
	return append(dst, body...)
}

// ParseEntry decodes an Event or Reject record.
func ParseEntry(rec []byte) (Entry, error) {
	var e Entry
	if len(rec) < 9 {
		return e, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(rec))
	}
	e.Type = Type(rec[0])
	if e.Type != TypeEvent && e.Type != TypeReject {
		return e, fmt.Errorf("%w: %v is not an entry", ErrCorrupt, e.Type)
	}
	e.Time = int64(binary.LittleEndian.Uint64(rec[1:9]))
	rest := rec[9:]
	var ok bool
	if e.Tenant, rest, ok = lenPrefixed(rest); !ok {
		return e, fmt.Errorf("%w: bad tenant", ErrCorrupt)
	}
	if e.Source, rest, ok = lenPrefixed(rest); !ok {
		return e, fmt.Errorf("%w: bad source", ErrCorrupt)
	}
	if e.Stream, rest, ok = lenPrefixed(rest); !ok {
		return e, fmt.Errorf("%w: bad seq stream", ErrCorrupt)
	}
	var k int
	if e.N, k = binary.Uvarint(rest); k <= 0 {
		return e, fmt.Errorf("%w: bad seq n", ErrCorrupt)
	}
	e.Body = rest[k:]
	return e, nil
}

func lenPrefixed(b []byte) (v, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n)], b[k+int(n):], true
}

// Batch is the boundary of one archive batch: WAL records First..Last
// inclusive belong to it, for the sink named Sink.
type Batch struct {
	Sink   string
	First  uint64
	Last   uint64
	Closed time.Time // when the batch was cut; part of its manifest
}

// AppendBatch appends a Batch record to dst.
func AppendBatch(dst []byte, b Batch) []byte {
	dst = append(dst, byte(TypeBatch))
	dst = binary.AppendUvarint(dst, uint64(len(b.Sink)))
	dst = append(dst, b.Sink...)
	dst = binary.AppendUvarint(dst, b.First)
	dst = binary.AppendUvarint(dst, b.Last)
	return binary.LittleEndian.AppendUint64(dst, uint64(b.Closed.UnixMicro()))
}

// ParseBatch decodes a Batch record.
func ParseBatch(rec []byte) (Batch, error) {
	var b Batch
	if len(rec) < 1 || Type(rec[0]) != TypeBatch {
		return b, fmt.Errorf("%w: not a batch record", ErrCorrupt)
	}
	sink, rest, ok := lenPrefixed(rec[1:])
	if !ok {
		return b, fmt.Errorf("%w: bad sink name", ErrCorrupt)
	}
	b.Sink = string(sink)
	var k int
	if b.First, k = binary.Uvarint(rest); k <= 0 {
		return b, fmt.Errorf("%w: bad first", ErrCorrupt)
	}
	rest = rest[k:]
	if b.Last, k = binary.Uvarint(rest); k <= 0 {
		return b, fmt.Errorf("%w: bad last", ErrCorrupt)
	}
	rest = rest[k:]
	if len(rest) != 8 || b.First > b.Last {
		return b, fmt.Errorf("%w: bad batch range or time", ErrCorrupt)
	}
	b.Closed = time.UnixMicro(int64(binary.LittleEndian.Uint64(rest))).UTC()
	return b, nil
}

// TypeOf returns the type of a record, or 0 for an empty one.
func TypeOf(rec []byte) Type {
	if len(rec) == 0 {
		return 0
	}
	return Type(rec[0])
}
