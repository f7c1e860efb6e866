package gunzip

import (
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/kansa-audit/kansa/internal/synth"
)

// members is a file of n gzip members of random-ish lines, and the lines.
func members(t testing.TB, n, lines int) (file, plain []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	var out bytes.Buffer
	for range n {
		var seg bytes.Buffer
		for range lines {
			fmt.Fprintf(&seg, `{"id":"%016x","action":"update","n":%d}`+"\n", r.Uint64(), r.IntN(1e6))
		}
		zw := gzip.NewWriter(&out)
		zw.Write(seg.Bytes())
		zw.Close()
		plain = append(plain, seg.Bytes()...)
	}
	return out.Bytes(), plain
}

// both runs f once with each decoder this machine has.
func both(t *testing.T, f func(t *testing.T)) {
	saved := useNative
	defer func() { useNative = saved }()
	for _, native := range []bool{false, true} {
		if native && !saved {
			t.Log("libdeflate is not installed here: only the Go reader is tested")
			continue
		}
		useNative = native
		t.Run(map[bool]string{false: "go", true: "libdeflate"}[native], f)
	}
}

func TestAppend(t *testing.T) {
	file, plain := members(t, 5, 3000)
	both(t, func(t *testing.T) {
		d := NewDecoder()
		// Into a buffer too small, onto a prefix, twice with the same
		// Decoder.
		for _, dst := range [][]byte{nil, []byte("prefix:"), make([]byte, 3, 10)} {
			got, err := d.Append(dst, file)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:len(dst)], dst) || !bytes.Equal(got[len(dst):], plain) {
				t.Fatalf("decoded %d bytes onto %q, want the %d plain bytes", len(got)-len(dst), dst, len(plain))
			}
		}
		if got, err := d.Append(nil, nil); err != nil || len(got) != 0 {
			t.Fatalf("an empty file: %q, %v", got, err)
		}
	})
}

// A member larger than the room left, onto an empty buffer of any size:
// the buffer must grow rather than the member be tried again.
func TestLargeMember(t *testing.T) {
	// One member of 10 MB that compresses 300-fold, far beyond the room
	// guessed from its size.
	plain := bytes.Repeat([]byte(`{"action":"update","actor":{"type":"User","id":42}}`+"\n"), 200000)
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(plain)
	zw.Close()
	file := out.Bytes()
	both(t, func(t *testing.T) {
		for _, dst := range [][]byte{nil, make([]byte, 0, growth), make([]byte, 0, 3*growth), make([]byte, 10, 2*growth)} {
			got, err := NewDecoder().Append(dst, file)
			if err != nil || !bytes.Equal(got[len(dst):], plain) {
				t.Fatalf("onto len %d cap %d: %d bytes, %v; want %d", len(dst), cap(dst), len(got)-len(dst), err, len(plain))
			}
		}
	})
}

// A damaged file gives the same prefix and error from either decoder.
func TestDamage(t *testing.T) {
	file, _ := members(t, 3, 2000)
	cases := map[string]func([]byte) []byte{
		"truncated":     func(b []byte) []byte { return b[:len(b)*2/3] },
		"flipped":       func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b },
		"crc":           func(b []byte) []byte { b[len(b)-6] ^= 1; return b },
		"trailing junk": func(b []byte) []byte { return append(b, "junk"...) },
		"not gzip":      func(b []byte) []byte { return []byte("plain text\n") },
		"header cut":    func(b []byte) []byte { return b[:5] },
		"second header": func(b []byte) []byte { return append(b, 0x1f, 0x8b) },
	}
	for name, damage := range cases {
		t.Run(name, func(t *testing.T) {
			bad := damage(bytes.Clone(file))
			want, werr := (&Decoder{}).appendGo(nil, bad)
			if werr == nil {
				t.Fatalf("the Go reader accepts the damage")
			}
			both(t, func(t *testing.T) {
				got, err := NewDecoder().Append([]byte("x"), bad)
				if err == nil || err.Error() != werr.Error() {
					t.Fatalf("error %v, want %v", err, werr)
				}
				if !bytes.Equal(got, append([]byte("x"), want...)) {
					t.Fatalf("decoded %d bytes before the error, want %d", len(got)-1, len(want))
				}
			})
			if name == "truncated" && !errors.Is(werr, io.ErrUnexpectedEOF) {
				t.Fatalf("a truncated file gives %v, want io.ErrUnexpectedEOF", werr)
			}
		})
	}
}

// BenchmarkAppend inflates what the archive writes: 65,536 events of the
// search workload (internal/synth, about 650 bytes each), gzip level 1
// members of 1 MiB, and compares the decoders with compress/gzip.
func BenchmarkAppend(b *testing.B) {
	var plain []byte
	for _, l := range synth.New(synth.Config{Seed: 1}).Chunk(nil, 0) {
		plain = append(append(plain, l...), '\n')
	}
	var file bytes.Buffer
	for rest := plain; len(rest) > 0; {
		n := min(len(rest), 1<<20)
		n = bytes.LastIndexByte(rest[:n], '\n') + 1
		zw, _ := gzip.NewWriterLevel(&file, gzip.BestSpeed)
		zw.Write(rest[:n])
		zw.Close()
		rest = rest[n:]
	}
	saved := useNative
	defer func() { useNative = saved }()
	for _, native := range []bool{false, true} {
		if native && !saved {
			continue
		}
		useNative = native
		b.Run(map[bool]string{false: "go", true: "libdeflate"}[native], func(b *testing.B) {
			d := NewDecoder()
			buf := make([]byte, 0, len(plain))
			b.SetBytes(int64(len(plain)))
			for b.Loop() {
				d.Append(buf[:0], file.Bytes())
			}
		})
	}
	b.Run("compress-gzip", func(b *testing.B) {
		buf := make([]byte, len(plain))
		b.SetBytes(int64(len(plain)))
		for b.Loop() {
			zr, _ := stdgzip.NewReader(bytes.NewReader(file.Bytes()))
			io.ReadFull(zr, buf)
		}
	})
}

func TestMembers(t *testing.T) {
	file, plain := members(t, 7, 300)
	both(t, func(t *testing.T) {
		d := NewDecoder()
		var got []byte
		var buf []byte
		next := 0
		buf, err := d.Members(file, buf, func(off, n int, data []byte) error {
			if off != next || n <= 0 {
				t.Fatalf("member at %d of %d bytes, want one at %d", off, n, next)
			}
			next = off + n
			one, err := NewDecoder().Append(nil, file[off:off+n])
			if err != nil || !bytes.Equal(one, data) {
				t.Fatalf("member at %d: %d bytes, read alone %d (%v)", off, len(data), len(one), err)
			}
			got = append(got, data...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next != len(file) || !bytes.Equal(got, plain) {
			t.Fatalf("members cover %d of %d bytes; %d of %d bytes inflated alike", next, len(file), len(got), len(plain))
		}
		// A member cut short is an error, after the whole members before it.
		seen := 0
		_, err = d.Members(file[:len(file)-5], buf, func(off, n int, data []byte) error { seen++; return nil })
		if err == nil || seen != 6 {
			t.Fatalf("cut file: %d members, error %v; want 6 and an error", seen, err)
		}
		stop := errors.New("stop")
		if _, err := d.Members(file, nil, func(int, int, []byte) error { return stop }); err != stop {
			t.Fatalf("fn's error: got %v", err)
		}
	})
}
