// Package gunzip decompresses whole gzip files held in memory, every member
// of them, as fast as this machine allows: through libdeflate when its
// shared library is installed (libdeflate0 on Debian and Ubuntu, libdeflate
// in Homebrew), found at run time, and through a pure-Go inflate
// otherwise. Both give the same bytes and, for a damaged file, the same
// error after the same prefix: libdeflate is asked only for whole members,
// and a file it refuses is decoded again by the Go reader, which says
// exactly where and how it fails. (One difference: libdeflate skips a gzip
// header's optional CRC, FHCRC, unchecked. kansa never writes one, and
// verify checks every file's SHA-256 besides.)
//
// libdeflate inflates what kansa archives about 2.5 times as fast as the
// Go reader (BenchmarkAppend, docs/benchmarks.md); verify, search without an index, reindex
// and proofs read every archived byte through here. KANSA_LIBDEFLATE=off
// keeps to the Go reader.
package gunzip

import (
	"bytes"
	"io"
	"os"
	"runtime"
	"slices"

	"github.com/klauspost/compress/gzip"
)

// Decoder is one goroutine's reusable decompression state.
type Decoder struct {
	native *native // nil without libdeflate
	zr     *gzip.Reader
	in     bytes.Reader
}

// useNative is whether Decoders use libdeflate; tests set it.
var useNative = os.Getenv("KANSA_LIBDEFLATE") != "off" && loadNative()

// NewDecoder returns a Decoder; it holds C memory when libdeflate is used,
// freed when the Decoder is collected.
func NewDecoder() *Decoder {
	d := &Decoder{}
	if useNative {
		if n := newNative(); n != nil {
			d.native = n
			runtime.AddCleanup(d, func(n *native) { n.free() }, n)
		}
	}
	return d
}

// ErrChecksum is the error of a file whose decompressed bytes do not
// match its checksum.
var ErrChecksum = gzip.ErrChecksum

// growth is how much room is added when a member does not fit.
const growth = 1 << 20

// Append appends the decompressed bytes of the gzip file src to dst. After
// an error the result holds what was decoded before the damage, and the
// error is the Go reader's: io.ErrUnexpectedEOF for a file cut short,
// gzip.ErrHeader or ErrChecksum or a flate error otherwise. An empty
// src is an empty file.
func (d *Decoder) Append(dst, src []byte) ([]byte, error) {
	if d.native != nil {
		start := len(dst)
		out, ok := d.native.appendAll(dst, src)
		runtime.KeepAlive(d) // its cleanup frees the decompressor
		if ok {
			return out, nil
		}
		dst = out[:start] // say what is wrong the Go reader's way
	}
	return d.appendGo(dst, src)
}

// Members inflates src one gzip member at a time, calling fn with each
// member's offset and length in src and its inflated bytes, which are
// valid only during the call (buf is reused for them and returned for
// reuse). An error from fn stops the walk and is returned; a damaged
// member is reported as Append reports it.
func (d *Decoder) Members(src, buf []byte, fn func(off, n int, data []byte) error) ([]byte, error) {
	for off := 0; off < len(src); {
		var used int
		var err error
		if buf, used, err = d.member(buf[:0], src[off:]); err != nil {
			return buf, err
		}
		if err := fn(off, used, buf); err != nil {
			return buf, err
		}
		off += used
	}
	return buf, nil
}

// member inflates src's first member onto dst and says how many bytes of
// src it took.
func (d *Decoder) member(dst, src []byte) ([]byte, int, error) {
	if d.native != nil {
		start := len(dst)
		out, used, ok := d.native.appendMember(dst, src)
		runtime.KeepAlive(d)
		if ok {
			return out, used, nil
		}
		dst = out[:start]
	}
	if err := d.reset(src); err != nil {
		return dst, 0, err
	}
	d.zr.Multistream(false)
	defer d.zr.Multistream(true)
	for {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(cap(dst), growth))
		}
		n, err := d.zr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, len(src) - d.in.Len(), nil
		}
		if err != nil {
			return dst, 0, err
		}
	}
}

// reset points the Go reader at src and reads its first header.
func (d *Decoder) reset(src []byte) error {
	d.in.Reset(src)
	if d.zr == nil {
		var err error
		d.zr, err = gzip.NewReader(&d.in)
		return err
	}
	return d.zr.Reset(&d.in)
}

func (d *Decoder) appendGo(dst, src []byte) ([]byte, error) {
	if len(src) == 0 {
		return dst, nil
	}
	err := d.reset(src)
	for err == nil {
		if len(dst) == cap(dst) {
			dst = slices.Grow(dst, max(cap(dst), growth))
		}
		var n int
		n, err = d.zr.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
	}
	if err == io.EOF {
		err = nil
	}
	return dst, err
}
