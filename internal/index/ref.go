package index

import (
	"bytes"
	"container/list"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/gunzip"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// An e value is either the event's line, which starts with '{', or a
// reference to the line in the archive: refTag, then as uvarints the
// archived file's number (an f key holds its object key), the offset and
// length of the gzip member that holds the line, and the line's place in
// the member (0 for the first). docs/search-index.md, "Events by
// reference".
const refTag = 0x01

// kindFile keys map a file number to the archive's object key.
const kindFile = 'f'

// MaxRefMember is the largest inflated member an index refers into: a
// lookup inflates the whole member for one line, so lines of larger
// members (the archive's 1 MiB default) are kept in the index instead.
const MaxRefMember = 256 << 10

type ref struct{ file, off, n, line uint64 }

func appendRef(dst []byte, r ref) []byte {
	dst = append(dst, refTag)
	dst = binary.AppendUvarint(dst, r.file)
	dst = binary.AppendUvarint(dst, r.off)
	dst = binary.AppendUvarint(dst, r.n)
	return binary.AppendUvarint(dst, r.line)
}

func parseRef(v []byte) (ref, error) {
	if len(v) == 0 || v[0] != refTag {
		return ref{}, errors.New("not a reference")
	}
	var r ref
	v = v[1:]
	for _, p := range []*uint64{&r.file, &r.off, &r.n, &r.line} {
		x, n := binary.Uvarint(v)
		if n <= 0 {
			return ref{}, errors.New("a damaged reference")
		}
		*p, v = x, v[n:]
	}
	if len(v) != 0 || r.n == 0 || r.file == 0 {
		return ref{}, errors.New("a damaged reference")
	}
	return r, nil
}

func fileKey(id uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{kindFile}, id)
}

// archived reads referenced lines back from the archive, keeping the lines
// read last in a cache, as Pebble's block cache keeps the blocks that hold
// the lines the index stores itself.
type archived struct {
	store objstore.Store

	mu    sync.Mutex
	files map[uint64]string
	ids   map[string]uint64 // files' numbers by key
	maxID uint64
	lru   *list.List // of *cachedLine, most recent first
	lines map[ref]*list.Element
	bytes int64
	limit int64

	decoders sync.Pool
	members  sync.Pool // of *member, for lookups' reuse
}

type cachedLine struct {
	ref  ref
	line []byte
}

func newArchived(store objstore.Store, limit int64) *archived {
	if limit <= 0 {
		limit = DefaultCacheBytes
	}
	return &archived{store: store, files: map[uint64]string{}, ids: map[string]uint64{}, lru: list.New(), lines: map[ref]*list.Element{}, limit: limit,
		decoders: sync.Pool{New: func() any { return gunzip.NewDecoder() }}}
}

// loadFiles reads the file table.
func (a *archived) loadFiles(r pebble.Reader) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{kindFile}, UpperBound: []byte{kindFile + 1}})
	if err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for ok := it.First(); ok; ok = it.Next() {
		if k := it.Key(); len(k) == 9 {
			id := binary.BigEndian.Uint64(k[1:])
			a.files[id] = string(it.Value())
			a.ids[string(it.Value())] = id
			a.maxID = max(a.maxID, id)
		}
	}
	return it.Close()
}

// fileID returns key's number, numbering it (and setting its f key in b)
// if it has none.
func (a *archived) fileID(key string, b *pebble.Batch) uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	id, ok := a.ids[key]
	if !ok {
		a.maxID++
		id = a.maxID
		a.ids[key], a.files[id] = id, key
		b.Set(fileKey(id), []byte(key), nil)
	}
	return id
}

// Repoint replaces the copies of archived events with references to where
// the archive put them: the archive's writer calls it after each batch
// (archive.Writer.OnPlaced). Only events added by WAL index (AddWAL) and
// already added are repointed; the others keep their copies, which are
// as good, only larger. It returns how many it repointed.
func (x *Index) Repoint(ps []archive.Placement) (int, error) {
	x.addMu.Lock()
	defer x.addMu.Unlock()
	if !x.hasWAL {
		return 0, nil
	}
	b := x.db.NewBatch()
	defer b.Close()
	var ek, v []byte
	n := 0
	var key string
	var id uint64
	for _, p := range ps {
		seq := x.walBase + p.Index
		if p.Index < x.walFirst || seq >= x.next || p.Size <= 0 || p.Off < 0 || p.Line < 0 {
			continue
		}
		if p.Key != key || id == 0 { // a batch's placements come file by file
			key, id = p.Key, x.arch.fileID(p.Key, b)
		}
		ek = binary.BigEndian.AppendUint64(append(ek[:0], kindEvent), seq)
		v = appendRef(v[:0], ref{id, uint64(p.Off), uint64(p.Size), uint64(p.Line)})
		b.Set(ek, v, nil)
		n++
	}
	if n == 0 {
		return 0, nil
	}
	// Not synced: a reference lost in a crash leaves the copy, as good.
	if err := b.Commit(pebble.NoSync); err != nil {
		return 0, fmt.Errorf("index: repoint: %w", err)
	}
	return n, nil
}

// Stored counts the events kept by reference and as copies. It reads
// every event's key: a diagnostic, not for a request's path.
func (x *Index) Stored() (byRef, copies uint64, err error) {
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindEvent}, UpperBound: []byte{kindEvent + 1}})
	if err != nil {
		return 0, 0, err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if v := it.Value(); len(v) > 0 && v[0] == refTag {
			byRef++
		} else {
			copies++
		}
	}
	return byRef, copies, it.Close()
}

// member is the last member a lookup inflated: the lines of one request,
// or of an actor's busy minute, are often neighbours. Its buffers are
// reused from lookup to lookup (getMember, putMember).
type member struct {
	file, off uint64
	data, gz  []byte
	ok        bool
}

func (a *archived) getMember() *member {
	if m, ok := a.members.Get().(*member); ok {
		m.ok = false
		return m
	}
	return &member{}
}

func (a *archived) putMember(m *member) {
	if cap(m.data) <= 4*MaxRefMember {
		a.members.Put(m)
	}
}

// line returns the line r refers to, from the cache, m, or the archive,
// as a copy the caller may keep (and change: decoding may). A file that is
// gone (expired by retention) is reported as objstore.ErrNotExist.
func (a *archived) line(ctx context.Context, r ref, m *member) ([]byte, error) {
	a.mu.Lock()
	if el, ok := a.lines[r]; ok {
		a.lru.MoveToFront(el)
		line := bytes.Clone(el.Value.(*cachedLine).line)
		a.mu.Unlock()
		return line, nil
	}
	key, ok := a.files[r.file]
	a.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("index: no archived file numbered %d (rebuild the index with kansa reindex)", r.file)
	}
	if a.store == nil {
		return nil, errors.New("index: the index refers to the archive, and no archive was given to read it from")
	}
	if !m.ok || m.file != r.file || m.off != r.off {
		var err error
		m.ok = false
		if m.gz, err = objstore.GetRange(ctx, a.store, key, int64(r.off), int64(r.n), m.gz[:0]); err != nil {
			return nil, err
		}
		// A member ends with its inflated size (mod 2^32): room for it
		// once, not the decoder's guess.
		if n := len(m.gz); n >= 4 {
			if size := binary.LittleEndian.Uint32(m.gz[n-4:]); size <= 16*MaxRefMember {
				m.data = slices.Grow(m.data[:0], int(size))
			}
		}
		d := a.decoders.Get().(*gunzip.Decoder)
		m.data, err = d.Append(m.data[:0], m.gz)
		a.decoders.Put(d)
		if err != nil {
			return nil, fmt.Errorf("index: %s, member at %d: %w", key, r.off, err)
		}
		m.file, m.off, m.ok = r.file, r.off, true
	}
	data := m.data
	for range r.line {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			data = nil
			break
		}
		data = data[i+1:]
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		data = data[:i]
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("index: %s, member at %d has no line %d", key, r.off, r.line)
	}
	line := bytes.Clone(data)
	a.mu.Lock()
	if _, ok := a.lines[r]; !ok {
		a.lines[r] = a.lru.PushFront(&cachedLine{r, bytes.Clone(line)})
		a.bytes += int64(len(line)) + cachedLineOverhead
		for a.bytes > a.limit {
			el := a.lru.Back()
			c := el.Value.(*cachedLine)
			a.lru.Remove(el)
			delete(a.lines, c.ref)
			a.bytes -= int64(len(c.line)) + cachedLineOverhead
		}
	}
	a.mu.Unlock()
	return line, nil
}

// cachedLineOverhead is what a cached line costs beside its bytes: the
// list element, the entry and the map's share.
const cachedLineOverhead = 160
