package wal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kansa-audit/kansa/internal/wal"
)

// frameOffset returns the offset of record idx in a segment starting at
// first whose records are payload(first...).
func frameOffset(first, idx uint64) int64 {
	off := int64(wal.HeaderSize)
	for i := first; i < idx; i++ {
		off += int64(wal.FrameHeaderSize + len(payload(i)))
	}
	return off
}

// writeLog writes records 1..n with opts into dir and closes the WAL.
func writeLog(t *testing.T, dir string, opts wal.Options, n uint64) {
	t.Helper()
	w, err := wal.Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	appendRange(t, w, 1, n, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

type logBuf struct{ bytes.Buffer }

func (b *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }

// checkContinues appends record last+1 to a recovered WAL, reopens it and
// checks records 1..last+1.
func checkContinues(t *testing.T, w *wal.WAL, dir string, last uint64) {
	t.Helper()
	if w.Last() != last || w.Synced() != last {
		t.Fatalf("recovered Last %d Synced %d, want %d", w.Last(), w.Synced(), last)
	}
	checkScan(t, w, 1, last)
	appendRange(t, w, last+1, last+1, 1)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w2, err := wal.Open(dir, wal.Options{})
	if err != nil {
		t.Fatalf("reopen after recovery: %v", err)
	}
	defer w2.Close()
	checkScan(t, w2, 1, last+1)
}

func TestTornTail(t *testing.T) {
	src := t.TempDir()
	const n = 6
	writeLog(t, src, wal.Options{}, n)
	seg := filepath.Join(src, wal.SegmentName(1))
	data, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	off := frameOffset(1, n)
	if int64(len(data)) != frameOffset(1, n+1) {
		t.Fatalf("segment has %d bytes, want %d", len(data), frameOffset(1, n+1))
	}

	check := func(t *testing.T, content []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, wal.SegmentName(1)), content, 0o644); err != nil {
			t.Fatal(err)
		}
		var logs logBuf
		w, err := wal.Open(dir, wal.Options{Logger: logs.logger()})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer w.Close()
		fi, err := os.Stat(filepath.Join(dir, wal.SegmentName(1)))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != off {
			t.Fatalf("file not truncated: %d bytes, want %d", fi.Size(), off)
		}
		if want := fmt.Sprintf("bytes=%d", int64(len(content))-off); int64(len(content)) > off &&
			(!strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), want)) {
			t.Fatalf("truncation not logged at Warn with %s: %s", want, logs.String())
		}
		checkContinues(t, w, dir, n-1)
	}
	for cut := off; cut < int64(len(data)); cut++ {
		t.Run(fmt.Sprintf("cut%d", cut-off), func(t *testing.T) { check(t, data[:cut]) })
	}
	for pos := off; pos < int64(len(data)); pos++ {
		t.Run(fmt.Sprintf("flip%d", pos-off), func(t *testing.T) {
			b := bytes.Clone(data)
			b[pos] ^= 0x5a
			check(t, b)
		})
	}
	t.Run("zeros", func(t *testing.T) {
		// A crash after the file grew but before its data reached the disk.
		b := append(bytes.Clone(data[:off]), make([]byte, 4096)...)
		check(t, b)
	})
}

func TestCorruption(t *testing.T) {
	small := wal.Options{SegmentSize: 256}
	const n = 100
	tests := []struct {
		name string
		opts wal.Options
		// damage breaks the log in dir and returns the expected error
		// fields; the repaired log holds records 1..lastKept.
		damage func(t *testing.T, dir string, segs []string) (want wal.CorruptionError, lastKept uint64)
	}{
		{"checksum in earlier segment", small, func(t *testing.T, dir string, segs []string) (wal.CorruptionError, uint64) {
			first := segFirst(t, segs[1])
			off := frameOffset(first, first+1)
			flip(t, segs[1], off+4) // a CRC byte of its second record
			return wal.CorruptionError{Segment: segs[1], Offset: off, Index: first + 1}, first
		}},
		{"truncated earlier segment", small, func(t *testing.T, dir string, segs []string) (wal.CorruptionError, uint64) {
			first := segFirst(t, segs[2])
			off := frameOffset(first, first+1)
			if err := os.Truncate(segs[2], off+3); err != nil {
				t.Fatal(err)
			}
			return wal.CorruptionError{Segment: segs[2], Offset: off, Index: first + 1}, first
		}},
		{"bad record followed by valid ones in last segment", wal.Options{}, func(t *testing.T, dir string, segs []string) (wal.CorruptionError, uint64) {
			off := frameOffset(1, 3)
			flip(t, segs[0], off+wal.FrameHeaderSize)
			return wal.CorruptionError{Segment: segs[0], Offset: off, Index: 3}, 2
		}},
		{"missing segment", small, func(t *testing.T, dir string, segs []string) (wal.CorruptionError, uint64) {
			gone := segFirst(t, segs[3])
			if err := os.Remove(segs[3]); err != nil {
				t.Fatal(err)
			}
			return wal.CorruptionError{Segment: segs[4], Offset: 0, Index: gone}, gone - 1
		}},
		{"bad header", small, func(t *testing.T, dir string, segs []string) (wal.CorruptionError, uint64) {
			first := segFirst(t, segs[2])
			flip(t, segs[2], 1)
			return wal.CorruptionError{Segment: segs[2], Offset: 0, Index: first}, first - 1
		}},
		{"header index differs from name", small, func(t *testing.T, dir string, segs []string) (wal.CorruptionError, uint64) {
			first := segFirst(t, segs[2])
			b, err := os.ReadFile(segs[2])
			if err != nil {
				t.Fatal(err)
			}
			copy(b, wal.EncodeHeader(first+1))
			if err := os.WriteFile(segs[2], b, 0o644); err != nil {
				t.Fatal(err)
			}
			return wal.CorruptionError{Segment: segs[2], Offset: 0, Index: first}, first - 1
		}},
		{"bad first header", small, func(t *testing.T, dir string, segs []string) (wal.CorruptionError, uint64) {
			flip(t, segs[0], 10)
			return wal.CorruptionError{Segment: segs[0], Offset: 0, Index: 1}, 0
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeLog(t, dir, tt.opts, n)
			segs := segments(t, dir)
			if len(segs) < 5 && tt.opts.SegmentSize != 0 {
				t.Fatalf("only %d segments", len(segs))
			}
			want, lastKept := tt.damage(t, dir, segs)

			_, err := wal.Open(dir, tt.opts)
			var cerr *wal.CorruptionError
			if !errors.As(err, &cerr) {
				t.Fatalf("Open: %v, want *CorruptionError", err)
			}
			if cerr.Segment != want.Segment || cerr.Offset != want.Offset || cerr.Index != want.Index || cerr.Err == nil {
				t.Fatalf("got %+v, want %+v", *cerr, want)
			}
			if !strings.Contains(cerr.Error(), "Repair") {
				t.Errorf("error does not say what to do: %v", cerr)
			}

			opts := tt.opts
			var logs logBuf
			opts.Repair, opts.Logger = true, logs.logger()
			w, err := wal.Open(dir, opts)
			if err != nil {
				t.Fatalf("Open with Repair: %v", err)
			}
			defer w.Close()
			if !strings.Contains(logs.String(), "lost_records_approx=") {
				t.Errorf("repair not logged with counts: %s", logs.String())
			}
			checkContinues(t, w, dir, lastKept)
		})
	}
}

func segFirst(t *testing.T, path string) uint64 {
	t.Helper()
	var first uint64
	if _, err := fmt.Sscanf(filepath.Base(path), "%020d.wal", &first); err != nil {
		t.Fatal(err)
	}
	return first
}

func flip(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[off] ^= 0x01
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzRecover writes a valid segment and then damage chosen by the fuzzer:
// garbage appended to it, or a second segment file of garbage (with or
// without a valid header). Open must never panic; without Repair it either
// succeeds or returns *CorruptionError; with Repair it succeeds. Whenever it
// succeeds the valid records come back, and appends continue after the
// recovered ones.
func FuzzRecover(f *testing.F) {
	f.Add(uint8(3), uint8(0), []byte("garbage"))
	f.Add(uint8(0), uint8(1), []byte{})
	f.Add(uint8(5), uint8(2), []byte{0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(uint8(2), uint8(0), wal.AppendFrame([]byte{1, 2, 3}, []byte("valid after junk")))
	f.Add(uint8(1), uint8(0), wal.AppendFrame(nil, []byte("x"))[:5])
	f.Add(uint8(4), uint8(2), wal.AppendFrame(nil, []byte("next segment record")))
	f.Fuzz(func(t *testing.T, n uint8, mode uint8, garbage []byte) {
		n %= 20
		seg := wal.EncodeHeader(1)
		for i := uint64(1); i <= uint64(n); i++ {
			seg = wal.AppendFrame(seg, payload(i))
		}
		dir := t.TempDir()
		second := filepath.Join(dir, wal.SegmentName(uint64(n)+1))
		switch mode % 3 {
		case 0:
			seg = append(seg, garbage...)
		case 1:
			mustWrite(t, second, garbage)
		case 2:
			mustWrite(t, second, append(wal.EncodeHeader(uint64(n)+1), garbage...))
		}
		mustWrite(t, filepath.Join(dir, wal.SegmentName(1)), seg)

		check := func(w *wal.WAL) {
			defer w.Close()
			last := w.Last()
			if w.Synced() != last {
				t.Fatalf("Last %d, Synced %d", last, w.Synced())
			}
			got := uint64(0)
			err := w.Scan(1, func(idx uint64, rec []byte) error {
				got++
				if idx <= uint64(n) && !bytes.Equal(rec, payload(idx)) {
					return fmt.Errorf("record %d = %q", idx, rec)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != last {
				t.Fatalf("Scan returned %d records, Last is %d", got, last)
			}
			idx, _, err := w.Append([][]byte{[]byte("new")})
			if err != nil || idx != last+1 {
				t.Fatalf("Append: %d %v, want %d", idx, err, last+1)
			}
			if err := w.Sync(context.Background(), idx); err != nil {
				t.Fatal(err)
			}
		}

		w, err := wal.Open(dir, wal.Options{})
		if err == nil {
			if w.Last() < uint64(n) {
				t.Fatalf("lost valid records: Last %d, want >= %d", w.Last(), n)
			}
			check(w)
			return
		}
		var cerr *wal.CorruptionError
		if !errors.As(err, &cerr) {
			t.Fatalf("Open: %v, want nil or *CorruptionError", err)
		}
		w, err = wal.Open(dir, wal.Options{Repair: true})
		if err != nil {
			t.Fatalf("Open with Repair: %v", err)
		}
		if w.Last() < uint64(n) {
			// The damage is after the valid records.
			t.Fatalf("repair lost records of the intact first segment: Last %d, want >= %d", w.Last(), n)
		}
		check(w)
	})
}

func mustWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
