// Package index is kansa's search index: postings by actor, record,
// request and time over the events it is given, and the events
// themselves or, once archived in small gzip members, references to them
// (ref.go), in a Pebble database. It answers one page of a lookup,
// newest first, in well under a millisecond when its blocks are cached.
// docs/search-index.md describes the design and the layout of keys.
//
// The index is derived data: Add is idempotent by event id, and the whole
// index can be rebuilt from the archive.
package index

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// FormatVersion is the layout of keys and values; an index of another
// version is refused (rebuild it with kansa reindex). Version 5 added the
// posting groups a build writes (group.go); an index of version 4, or 3
// (4 without references), has none, and reads as one of 5.
const FormatVersion = "5"

// Key kinds, the first byte of every key.
const (
	kindEvent   = 'e' // seq → stored line
	kindActor   = 'a'
	kindTarget  = 't'
	kindRequest = 'r'
	kindTime    = 'T' // every event, per tenant
	kindTenant  = 'n' // tenant → nothing: the tenants seen
	kindMeta    = 'm'
)

var (
	metaVersion = []byte("mversion")
	metaNextSeq = []byte("mnextseq")
	// metaWAL holds the seq of WAL index 0 (mod 2^64) and the first WAL
	// index added by (AddWAL): an event's seq is then known from its WAL
	// index, which is how the archive's placements find it (Repoint).
	metaWAL = []byte("mwal")
)

// DefaultCacheBytes is the default of each of the index's caches (blocks,
// lines): at 100M events it holds the blocks and lines 1,000 records'
// and actors' histories read (docs/benchmarks.md, "The caches").
const DefaultCacheBytes = 1 << 30

// Options tune the index. The zero value gives the defaults.
type Options struct {
	// CacheBytes is the block cache; default DefaultCacheBytes. It takes
	// memory as lookups fill it.
	CacheBytes int64
	// MemTableBytes is the size of one memtable; default 16 MiB.
	MemTableBytes uint64
	// BlockBytes is the target size of a data block before compression;
	// default 64 KiB (docs/benchmarks.md: the size/latency trade-off).
	BlockBytes int
	// MaxOpenFiles bounds the tables kept open; default 10,000. A lookup
	// touches a table per event it fetches, and reopening one (its
	// footer, index and filter) costs more than the read itself.
	MaxOpenFiles int
	// Archive is the archive's store, where events kept by reference are
	// read (an index built from an archive of small gzip members keeps
	// where each event is, not a copy: see Builder.AddFile).
	Archive objstore.Store
	// LineCacheBytes bounds the events read from the archive kept in
	// memory; default DefaultCacheBytes.
	LineCacheBytes int64
}

// Index is an open index. Its methods are safe for concurrent use; Add
// calls are serialized.
type Index struct {
	db    *pebble.DB
	cache *pebble.Cache
	addMu sync.Mutex
	next  uint64 // the seq the next added event gets
	arch  *archived
	// walBase is the seq of WAL index 0 (the sum wraps when the WAL is
	// ahead of the seqs), walFirst the first WAL index added; hasWAL is
	// false until the first AddWAL.
	walBase, walFirst uint64
	hasWAL            bool

	closeOnce sync.Once
	closeErr  error
}

// pebbleOptions fills in opts' defaults and returns the Pebble options of
// an index with them. The caller owns a reference to the cache.
func pebbleOptions(opts Options) (*pebble.Options, *pebble.Cache) {
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = DefaultCacheBytes
	}
	if opts.MemTableBytes == 0 {
		opts.MemTableBytes = 16 << 20
	}
	if opts.BlockBytes <= 0 {
		opts.BlockBytes = 64 << 10
	}
	if opts.MaxOpenFiles <= 0 {
		opts.MaxOpenFiles = 10000
	}
	cache := pebble.NewCache(opts.CacheBytes)
	po := &pebble.Options{
		MaxOpenFiles: opts.MaxOpenFiles,
		Merger:       counter,
		Cache:        cache,
		MemTableSize: opts.MemTableBytes,
		Logger:       quietLogger{},
	}
	for i := range po.Levels {
		po.Levels[i].BlockSize = opts.BlockBytes
		// Bloom filters let a Get skip the tables of the upper levels,
		// whose key ranges span every event's key. The bottom level,
		// where a build puts everything and compactions end, has none: a
		// Get there reads the one table whose range holds the key and
		// finds it (the postings that led to it were written with it), so
		// a filter would only cost its 1.25 bytes a key.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
		if i == len(po.Levels)-1 {
			po.Levels[i].FilterPolicy = pebble.NoFilterPolicy
		}
		po.Levels[i].Compression = func() *sstable.CompressionProfile { return zstd1 }
	}
	return po, cache
}

// zstd1 compresses every block with zstd at level 1.
var zstd1 = func() *sstable.CompressionProfile {
	p := *sstable.BalancedCompression
	p.Name = "kansa-zstd1"
	p.OtherBlocks = p.DataBlocks
	p.AdaptiveReductionCutoffPercent = 0
	p.MinReductionPercent = sstable.ZstdCompression.MinReductionPercent
	return &p
}()

// Open opens the index in dir, creating it if needed.
func Open(dir string, opts Options) (*Index, error) {
	po, cache := pebbleOptions(opts)
	db, err := pebble.Open(dir, po)
	cache.Unref() // the DB holds its own reference
	if err != nil {
		return nil, fmt.Errorf("open index %s: %w (an index written by another kansa version is rebuilt with kansa reindex)", dir, err)
	}
	x := &Index{db: db, arch: newArchived(opts.Archive, opts.LineCacheBytes)}
	if err := x.arch.loadFiles(db); err != nil {
		db.Close()
		return nil, err
	}
	v, err := x.get(metaVersion)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := db.Set(metaVersion, []byte(FormatVersion), pebble.Sync); err != nil {
			db.Close()
			return nil, err
		}
	case err != nil:
		db.Close()
		return nil, err
	case string(v) != FormatVersion && string(v) != "4" && string(v) != "3":
		db.Close()
		return nil, fmt.Errorf("index %s has format %q, this kansa writes %q: rebuild it with kansa reindex", dir, v, FormatVersion)
	}
	if v, err := x.get(metaNextSeq); err == nil && len(v) == 8 {
		x.next = binary.BigEndian.Uint64(v)
	} else if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		db.Close()
		return nil, err
	}
	if x.next == 0 {
		x.next = 1
	}
	if v, err := x.get(metaWAL); err == nil && len(v) == 16 {
		x.walBase, x.walFirst, x.hasWAL = binary.BigEndian.Uint64(v), binary.BigEndian.Uint64(v[8:]), true
	} else if err != nil && !errors.Is(err, pebble.ErrNotFound) {
		db.Close()
		return nil, err
	}
	return x, nil
}

// Close closes the index. Calls after the first do nothing.
func (x *Index) Close() error {
	x.closeOnce.Do(func() { x.closeErr = x.db.Close() })
	return x.closeErr
}

// get returns a copy of key's value.
func (x *Index) get(key []byte) ([]byte, error) {
	v, closer, err := x.db.Get(key)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	return bytes.Clone(v), nil
}

// timeOrd maps a time in µs to 8 bytes that sort newest first: the sign
// bit flipped (so negative times sort before positive ones) and every bit
// inverted.
func timeOrd(us int64) uint64 { return ^(uint64(us) ^ 1<<63) }

// postingPrefix appends kind, then each part followed by a zero byte.
func postingPrefix(dst []byte, kind byte, parts ...string) []byte {
	dst = append(dst, kind)
	for _, p := range parts {
		dst = append(append(dst, p...), 0)
	}
	return dst
}

// Add indexes events, each one line in kansa's stored encoding (as the
// WAL and the archive hold them). When Add returns nil, the events are
// durable in the index. It returns how many events it indexed.
//
// An event may be added again (a batch redelivered after a crash, an event
// a producer resent): Add does not look for it, which would cost a read per
// event, and Search shows one event per id and time instead.
func (x *Index) Add(lines [][]byte) (int, error) { return x.add(lines, nil) }

// AddWAL is Add for events read from the WAL, idx holding each one's WAL
// index: an event's seq follows from its index, so the archive's
// placements of the same events find them (Repoint), and a batch added
// again after a crash overwrites its own keys.
func (x *Index) AddWAL(lines [][]byte, idx []uint64) (int, error) {
	if len(idx) != len(lines) {
		return 0, fmt.Errorf("index: %d events and %d WAL indexes", len(lines), len(idx))
	}
	return x.add(lines, idx)
}

func walMeta(base, from uint64) []byte {
	return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, base), from)
}

func (x *Index) add(lines [][]byte, idx []uint64) (int, error) {
	if len(lines) == 0 {
		return 0, nil
	}
	x.addMu.Lock()
	defer x.addMu.Unlock()
	b := x.db.NewBatch()
	defer b.Close()
	seq := x.next
	walBase, walFirst, hasWAL := x.walBase, x.walFirst, x.hasWAL
	if idx == nil && hasWAL {
		// Its seqs would take those of WAL indexes yet to come.
		return 0, errors.New("index: this index adds events by WAL index (AddWAL), not in order")
	}
	if len(idx) > 0 && !hasWAL {
		walBase, walFirst, hasWAL = x.next-idx[0], idx[0], true
		b.Set(metaWAL, walMeta(walBase, walFirst), nil)
	}
	next := x.next
	seen := make(map[string]bool, len(lines))
	var key []byte
	var dec keyDecoder
	tenants := map[string]bool{}
	var cnt counts
	added := 0
	for i, line := range lines {
		e, err := dec.decode(line)
		if err != nil {
			return 0, fmt.Errorf("index: event %d: %w", i, err)
		}
		if e.ID == "" {
			return 0, fmt.Errorf("index: event %d has no id", i)
		}
		if seen[e.ID] {
			continue
		}
		seen[e.ID] = true
		if idx != nil {
			if seq = walBase + idx[i]; idx[i] < walFirst {
				return 0, fmt.Errorf("index: WAL index %d is older than the index's WAL history (rebuild the index with kansa reindex)", idx[i])
			}
		}
		var sb [8]byte
		binary.BigEndian.PutUint64(sb[:], seq)
		key = append(append(key[:0], kindEvent), sb[:]...)
		b.Set(key, line, nil)
		tenant := e.Tenant
		if tenant == "" {
			tenant = event.DefaultTenant
		}
		key = eachPosting(key, e, tenant, seq, func(_ byte, k []byte) { b.Set(k, nil, nil) })
		// An event added again by WAL index (a batch redelivered after a
		// crash) overwrites its own keys, but counters add up: count it
		// only the first time, when its seq is new.
		if idx == nil || seq >= x.next {
			cnt.add(tenant, e)
		}
		if !tenants[tenant] {
			tenants[tenant] = true
			b.Set(postingPrefix(key[:0], kindTenant, tenant), nil, nil)
		}
		seq++
		next = max(next, seq)
		added++
	}
	if added == 0 {
		return 0, nil
	}
	if err := cnt.write(b); err != nil {
		return 0, err
	}
	b.Set(metaNextSeq, binary.BigEndian.AppendUint64(nil, next), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return 0, fmt.Errorf("index: %w", err)
	}
	x.next = next
	x.walBase, x.walFirst, x.hasWAL = walBase, walFirst, hasWAL
	return added, nil
}

// eachPosting calls fn with each posting key of e, which has the index's
// seq: its actor's, its target's, its request's and its tenant's. The key
// passed is valid during the call; the buffer is returned for reuse.
func eachPosting(key []byte, e *event.Event, tenant string, seq uint64, fn func(kind byte, key []byte)) []byte {
	var tail [16]byte
	binary.BigEndian.PutUint64(tail[:8], timeOrd(e.Time.UnixMicro()))
	binary.BigEndian.PutUint64(tail[8:], seq)
	if a := e.Actor; a != nil && a.ID != "" {
		key = append(postingPrefix(key[:0], kindActor, tenant, a.Type, a.ID), tail[:]...)
		fn(kindActor, key)
	}
	if t := e.Target; t != nil && t.ID != "" {
		key = append(postingPrefix(key[:0], kindTarget, tenant, t.Type, t.ID), tail[:]...)
		fn(kindTarget, key)
	}
	if r := e.Context.RequestID; r != "" {
		key = append(postingPrefix(key[:0], kindRequest, tenant, r), tail[:]...)
		fn(kindRequest, key)
	}
	key = append(postingPrefix(key[:0], kindTime, tenant), tail[:]...)
	fn(kindTime, key)
	return key
}

// Kind names a posting list.
type Kind uint8

const (
	// Actor lists one actor's events: Key.Type and Key.ID name it.
	Actor Kind = iota + 1
	// Target lists one record's events.
	Target
	// RequestID lists the events of one request id (Key.ID).
	RequestID
	// All lists every event of Key.Tenant (or of every tenant when
	// Tenant is empty).
	All
)

// Key names a posting list in one tenant, or in every tenant the index
// has seen when Tenant is "".
type Key struct {
	Kind     Kind
	Tenant   string
	Type, ID string
}

// prefix is the key's posting list prefix; k.Tenant must be set.
func (k Key) prefix() []byte {
	tenant := k.Tenant
	switch k.Kind {
	case Actor:
		return postingPrefix(nil, kindActor, tenant, k.Type, k.ID)
	case Target:
		return postingPrefix(nil, kindTarget, tenant, k.Type, k.ID)
	case RequestID:
		return postingPrefix(nil, kindRequest, tenant, k.ID)
	}
	return postingPrefix(nil, kindTime, tenant)
}

// Request is one page of a lookup.
type Request struct {
	// Keys are the posting lists to read, any of which may hold a
	// matching event (OR). At least one.
	Keys []Key
	// Since (inclusive) and Until (exclusive) bound the events' time;
	// zero means unbounded.
	Since, Until time.Time
	// Match, when set, must accept an event for it to be returned: the
	// conditions the keys do not express.
	Match func(*event.Event) bool
	// Limit is the page size; 0 means 100.
	Limit int
	// After is the cursor of the previous page; "" starts at the newest.
	After string
}

// Result is one page, newest first.
type Result struct {
	// Events are the matching events' stored lines.
	Events [][]byte
	// Next is the cursor of the next page, "" when there is none.
	Next string
	// Examined counts the events fetched and checked against Match.
	Examined int

	lastID string // the id of the last event examined
}

// cursor is where a page ended: the time (as ord) and id of the last
// event it returned. Pages are ordered by time, newest first, then by id,
// greatest first (the order of search.Scan), so (time, id) is a key that
// events added later cannot move.
type cursor struct {
	ord uint64
	id  string
}

func (c cursor) String() string {
	b := binary.BigEndian.AppendUint64(nil, c.ord)
	return base64.RawURLEncoding.EncodeToString(append(b, c.id...))
}

// CursorAt returns the cursor of a page that ended with the event of
// time t and id: the next page starts with the events after it.
func CursorAt(t time.Time, id string) string { return cursor{timeOrd(t.UnixMicro()), id}.String() }

// ParseCursor returns the time and id of the event a page ended with.
func ParseCursor(s string) (time.Time, string, error) {
	c, err := parseCursor(s)
	if err != nil {
		return time.Time{}, "", err
	}
	return time.UnixMicro(int64(^c.ord ^ 1<<63)).UTC(), c.id, nil
}

// ErrBadCursor is returned for a cursor that no page gave.
var ErrBadCursor = errors.New("malformed cursor")

func parseCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 9 {
		return cursor{}, fmt.Errorf("index: %w %q: pass the next cursor of a previous page as it was given", ErrBadCursor, s)
	}
	return cursor{binary.BigEndian.Uint64(b[:8]), string(b[8:])}, nil
}

// candidate is an event of the current time group.
type candidate struct {
	id   string
	line []byte
}

// Search returns one page of the events in req's posting lists that fall
// in its time range and satisfy its Match, newest first, ties by id
// (greatest first). An event found through several keys, or added more
// than once, is returned once.
func (x *Index) Search(ctx context.Context, req Request) (Result, error) {
	if len(req.Keys) == 0 {
		return Result{}, errors.New("index: a search needs at least one key")
	}
	limit := req.Limit
	if limit <= 0 {
		limit = 100
	}
	var after *cursor
	if req.After != "" {
		c, err := parseCursor(req.After)
		if err != nil {
			return Result{}, err
		}
		after = &c
	}
	keys, err := x.expand(req.Keys)
	if err != nil {
		return Result{}, err
	}
	snap := x.db.NewSnapshot()
	defer snap.Close()
	var lists postingHeap
	defer func() {
		for _, l := range lists {
			l.close()
		}
	}()
	for _, k := range keys {
		ls, err := openLists(snap, k.prefix(), req.Since, req.Until, after)
		if err != nil {
			return Result{}, err
		}
		lists = append(lists, ls...)
	}
	heap.Init(&lists)
	var res Result
	var ek []byte
	var dec event.Decoder
	var group []candidate
	m := x.arch.getMember()
	defer x.arch.putMember(m)
	for len(lists) > 0 && len(res.Events) < limit {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		// Gather every event of the next microsecond, from every list.
		ord := lists[0].cur.ord
		group = group[:0]
		for len(lists) > 0 && lists[0].cur.ord == ord {
			l := lists[0]
			seq := l.cur.seq
			if l.next() {
				heap.Fix(&lists, 0)
			} else {
				heap.Pop(&lists)
				if err := l.close(); err != nil {
					return Result{}, fmt.Errorf("index: %w", err)
				}
			}
			ek = binary.BigEndian.AppendUint64(append(ek[:0], kindEvent), seq)
			v, closer, err := snap.Get(ek)
			if err != nil {
				return Result{}, fmt.Errorf("index: event %d of a posting list: %w", seq, err)
			}
			line, err := x.line(ctx, v, m)
			closer.Close()
			if errors.Is(err, objstore.ErrNotExist) {
				continue // its file expired by retention
			}
			if err != nil {
				return Result{}, fmt.Errorf("index: event %d: %w", seq, err)
			}
			id, err := eventID(line)
			if err != nil {
				return Result{}, fmt.Errorf("index: event %d: %w", seq, err)
			}
			if !slices.ContainsFunc(group, func(c candidate) bool { return c.id == id }) {
				group = append(group, candidate{id, line})
			}
		}
		slices.SortFunc(group, func(a, b candidate) int { return strings.Compare(b.id, a.id) })
		for _, c := range group {
			if after != nil && ord == after.ord && c.id >= after.id {
				continue // on an earlier page
			}
			if len(res.Events) == limit {
				res.Next = cursor{ord, res.lastID}.String()
				return res, nil
			}
			res.Examined++
			res.lastID = c.id
			ok := true
			if req.Match != nil {
				e, err := dec.Decode(c.line)
				if err != nil {
					return Result{}, err
				}
				ok = req.Match(e)
			}
			if ok {
				res.Events = append(res.Events, c.line)
			}
		}
		if len(res.Events) == limit && len(lists) > 0 {
			res.Next = cursor{ord, res.lastID}.String()
		}
	}
	return res, nil
}

// line returns the event an e value holds or refers to, a copy the
// caller may keep.
func (x *Index) line(ctx context.Context, v []byte, m *member) ([]byte, error) {
	if len(v) == 0 || v[0] != refTag {
		return bytes.Clone(v), nil
	}
	r, err := parseRef(v)
	if err != nil {
		return nil, err
	}
	return x.arch.line(ctx, r, m)
}

// eventID reads the id of a stored line.
func eventID(line []byte) (string, error) {
	v, ok := rawjson.Get(line, "id")
	if !ok {
		return "", errors.New("no id")
	}
	return event.IDField("id", v)
}

// expand turns a key without a tenant into one key per tenant seen.
func (x *Index) expand(keys []Key) ([]Key, error) {
	var out []Key
	var tenants []string
	for _, k := range keys {
		if k.Tenant != "" {
			out = append(out, k)
			continue
		}
		if tenants == nil {
			var err error
			if tenants, err = x.Tenants(); err != nil {
				return nil, err
			}
		}
		for _, t := range tenants {
			k.Tenant = t
			out = append(out, k)
		}
	}
	return out, nil
}

// Tenants returns the tenants of the events indexed, sorted.
func (x *Index) Tenants() ([]string, error) {
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: []byte{kindTenant}, UpperBound: []byte{kindTenant + 1}})
	if err != nil {
		return nil, err
	}
	tenants := []string{}
	for ok := it.First(); ok; ok = it.Next() {
		tenants = append(tenants, string(it.Key()[1:len(it.Key())-1]))
	}
	return tenants, it.Close()
}

// pos is a posting's place in its list: the event's time as ord, and its
// seq.
type pos struct{ ord, seq uint64 }

// postingList iterates one prefix's postings, newest first: the single
// postings Add writes, or the groups a build writes (group.go).
type postingList struct {
	it     *pebble.Iterator
	prefix int // length of the prefix
	cur    pos

	// A list of groups gives, of the postings of the group it read, those
	// from i on that are from start to end.
	groups     bool
	ps         []pos
	i          int
	start, end uint64
	err        error
}

func (l *postingList) load() bool {
	k := l.it.Key()
	if len(k) != l.prefix+16 {
		return false // not a posting of this list (a longer id sharing the prefix cannot happen: parts end in 0)
	}
	l.cur = pos{binary.BigEndian.Uint64(k[l.prefix:]), binary.BigEndian.Uint64(k[l.prefix+8:])}
	return true
}

func (l *postingList) next() bool {
	if l.groups {
		return l.nextInGroups()
	}
	for l.it.Next() {
		if l.load() {
			return true
		}
	}
	return false
}

// close closes the list's iterator and returns what went wrong reading it.
func (l *postingList) close() error {
	err := l.it.Close()
	if l.err != nil {
		return l.err
	}
	return err
}

// openLists opens prefix's single postings and groups as lists, each
// positioned on its first posting within [since, until) and at or after
// the cursor's time; none for a list with nothing there.
func openLists(r pebble.Reader, prefix []byte, since, until time.Time, after *cursor) ([]*postingList, error) {
	// The postings wanted are those with ords from start to end.
	var start uint64
	end := uint64(math.MaxUint64)
	if !until.IsZero() {
		start = timeOrd(until.UnixMicro() - 1)
	}
	if after != nil {
		start = max(start, after.ord) // the caller skips what it showed of that time
	}
	if !since.IsZero() {
		end = timeOrd(since.UnixMicro())
	}
	if start > end {
		return nil, nil
	}
	var lists []*postingList
	for _, open := range []func(pebble.Reader, []byte, uint64, uint64) (*postingList, error){openList, openGroups} {
		l, err := open(r, prefix, start, end)
		if err != nil {
			for _, l := range lists {
				l.close()
			}
			return nil, err
		}
		if l != nil {
			lists = append(lists, l)
		}
	}
	return lists, nil
}

// postingBound is prefix and ord followed by more 0xff bytes than a seq
// has: past every posting of prefix up to that ord.
func postingBound(prefix []byte, ord uint64) []byte {
	b := binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), ord)
	return append(b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
}

// openList opens prefix's single postings as a list, positioned on its
// first posting from start to end (ords, both inclusive); nil when there
// is none.
func openList(r pebble.Reader, prefix []byte, start, end uint64) (*postingList, error) {
	it, err := r.NewIter(&pebble.IterOptions{
		LowerBound: binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), start),
		UpperBound: postingBound(prefix, end),
	})
	if err != nil {
		return nil, err
	}
	l := &postingList{it: it, prefix: len(prefix)}
	for ok := it.First(); ok; ok = it.Next() {
		if l.load() {
			return l, nil
		}
	}
	return nil, l.close()
}

// postingHeap orders lists by their current posting: newest first, then
// by seq.
type postingHeap []*postingList

func (h postingHeap) Len() int { return len(h) }
func (h postingHeap) Less(i, j int) bool {
	a, b := h[i].cur, h[j].cur
	return a.ord < b.ord || a.ord == b.ord && a.seq < b.seq
}
func (h postingHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *postingHeap) Push(x any)   { *h = append(*h, x.(*postingList)) }
func (h *postingHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	*h = old[:len(old)-1]
	return l
}

// quietLogger keeps Pebble's informational lines ("Found 0 WALs") out of
// kansa's output; errors still reach the caller as errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

// Usage returns the bytes on disk of each kind of key, by its first byte,
// as Pebble estimates them; a kind of postings counts its groups too.
func (x *Index) Usage() (map[string]uint64, error) {
	out := map[string]uint64{}
	for _, k := range []byte{kindEvent, kindActor, kindTarget, kindRequest, kindTime, kindTenant, kindMeta, kindCount, kindFile} {
		n, err := x.db.EstimateDiskUsage([]byte{k}, []byte{k + 1})
		if err != nil {
			return nil, err
		}
		out[string(k)] = n
	}
	for _, k := range groupedKinds {
		n, err := x.db.EstimateDiskUsage([]byte{kindGroup, k}, []byte{kindGroup, k + 1})
		if err != nil {
			return nil, err
		}
		out[string(k)] += n
	}
	return out, nil
}

// Compact compacts the whole index.
func (x *Index) Compact() error {
	return x.db.Compact(context.Background(), []byte{0}, []byte{0xff}, true)
}
