package index

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/gunzip"
)

// BuildOptions tune a Builder. The zero value gives the defaults.
type BuildOptions struct {
	// Workers decode events and write their tables in parallel; default
	// GOMAXPROCS.
	Workers int
	// MemoryBytes bounds the postings and counters held in memory before
	// they are sorted and spilled to a run file, shared by the workers;
	// default 256 MiB. Sorting takes about a quarter more beside it (each
	// worker's words for its largest kind).
	MemoryBytes int
	// References lets AddFile keep events by reference into the archive
	// (when their member is small enough); without it AddFile copies them.
	References bool
}

// A Builder writes a whole new index much faster than Add does: it writes
// Pebble's tables itself and ingests them at the end, so nothing passes
// through memtables and compactions.
//
//   - Events get seqs in the order they are given. Each batch of about
//     32 MB of events becomes one table of e keys, written by a worker.
//     Consecutive batches hold consecutive seqs, so these tables do not
//     overlap.
//   - Postings and counters collect in the workers' memory, split by kind;
//     when a worker's share of MemoryBytes is full they are sorted and
//     written to run files (counters summed first).
//   - Finish merges each kind's runs (kinds in parallel) into tables, and
//     ingests every table into the new Pebble database at its bottom level.
//
// The result is the same index Add would make from the same events in the
// same order (TestBuildEqualsAdd), except that Add skips an id repeated in
// one call and Build does not; Search shows repeats once either way.
//
// A Builder is used by one goroutine. Abort (or a failed Finish) removes
// the directory.
type Builder struct {
	dir   string
	tmp   string
	batch int // bytes of events per e table
	db    *pebble.DB
	wo    sstable.WriterOptions
	next  uint64

	pending   []byte // lines of the batch being collected
	pendingAt []int  // where each line ends in pending
	refs      []byte // the e value of each line kept by reference, none for a line kept whole
	refsAt    []int  // where each line's reference ends in refs
	fileIDs   map[string]uint64
	byRef     uint64
	nextWAL   uint64 // SetNextWAL
	useRefs   bool   // BuildOptions.References
	dec       *gunzip.Decoder
	member    []byte
	work      chan *buildBatch
	free      chan *buildBatch // batches written, for reuse: fresh 32 MB buffers cost page faults
	wg        sync.WaitGroup
	workers   []*buildWorker

	mu     sync.Mutex
	err    error
	files  []string // tables to ingest
	runs   map[byte][]string
	nrun   int
	phases []Phase // Finish's parts, as they end
}

// Phase is a part of Finish and how long it took.
type Phase struct {
	Name string
	Took time.Duration
}

// Phases are the parts of the last Finish and how long each took, in the
// order they ended: the last spill, the merge of each kind's runs ("merge
// t": kinds merge in parallel, so these overlap), the ingest.
func (b *Builder) Phases() []Phase {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.phases)
}

// timed records how long the phase that started at start took.
func (b *Builder) timed(name string, start time.Time) {
	took := time.Since(start)
	b.mu.Lock()
	b.phases = append(b.phases, Phase{name, took})
	b.mu.Unlock()
}

// batchBytes is how many bytes of events go into one e table.
const batchBytes = 32 << 20

// postingKinds are the kinds written through runs.
var postingKinds = []byte{kindActor, kindTarget, kindRequest, kindTime, kindCount, kindTenant}

type buildBatch struct {
	seq  uint64
	data []byte
	ends []int
	refs []byte
	rEnd []int // empty when no line is kept by reference
}

// NewBuilder starts a new index in dir, which must not exist or be empty.
func NewBuilder(dir string, opts Options, bo BuildOptions) (*Builder, error) {
	if bo.Workers <= 0 {
		bo.Workers = runtime.GOMAXPROCS(0)
	}
	if bo.MemoryBytes <= 0 {
		bo.MemoryBytes = 256 << 20
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return nil, fmt.Errorf("index: build into %s: the directory is not empty", dir)
	}
	po, cache := pebbleOptions(opts)
	po.EnsureDefaults()
	db, err := pebble.Open(dir, po)
	cache.Unref()
	if err != nil {
		return nil, fmt.Errorf("index: build into %s: %w", dir, err)
	}
	b := &Builder{
		dir:   dir,
		tmp:   filepath.Join(dir, "build.tmp"),
		db:    db,
		wo:    po.MakeWriterOptions(len(po.Levels)-1, db.FormatMajorVersion().MaxTableFormat()),
		next:  1,
		batch: batchBytes,
		work:  make(chan *buildBatch, bo.Workers),
		free:  make(chan *buildBatch, 2*bo.Workers+1),
		runs:  map[byte][]string{},

		fileIDs: map[string]uint64{},
		useRefs: bo.References,
	}
	if err := os.MkdirAll(b.tmp, 0o755); err != nil {
		db.Close()
		return nil, err
	}
	for range bo.Workers {
		w := &buildWorker{b: b, budget: bo.MemoryBytes / bo.Workers, tenants: map[string]bool{}}
		w.counts.actorsFromPostings = true
		w.actorDays.emit = func(k, v []byte) { w.run(kindCount).add(k, v) }
		b.workers = append(b.workers, w)
		work := b.work
		b.wg.Go(func() { w.loop(work) })
	}
	return b, nil
}

// Add gives the builder events, each one line in kansa's stored encoding.
// The lines are copied before Add returns.
func (b *Builder) Add(lines [][]byte) error {
	if err := b.failed(); err != nil {
		return err
	}
	for _, l := range lines {
		b.add(l, nil)
	}
	return nil
}

// add appends one line to the pending batch, with its reference if it is
// kept by one.
func (b *Builder) add(line, ref []byte) {
	if b.pending == nil {
		select {
		case bb := <-b.free:
			b.pending, b.pendingAt, b.refs, b.refsAt = bb.data[:0], bb.ends[:0], bb.refs[:0], bb.rEnd[:0]
		default:
			b.pending = make([]byte, 0, b.batch+64<<10)
		}
	}
	b.pending = append(b.pending, line...)
	b.pendingAt = append(b.pendingAt, len(b.pending))
	if ref != nil || len(b.refsAt) > 0 {
		for len(b.refsAt) < len(b.pendingAt)-1 { // the lines before, kept whole
			b.refsAt = append(b.refsAt, len(b.refs))
		}
		b.refs = append(b.refs, ref...)
		b.refsAt = append(b.refsAt, len(b.refs))
	}
	if len(b.pending) >= b.batch {
		b.dispatch()
	}
}

// AddFile gives the builder the events of one archived gzip NDJSON file,
// key its object key in the archive and gz its bytes. With
// BuildOptions.References, the lines of each member that inflates to at
// most MaxRefMember bytes are kept by reference (the file, the member, the
// line), and read back from Options.Archive by lookups; other lines are
// copied into the index, as Add does.
func (b *Builder) AddFile(key string, gz []byte) error {
	if err := b.failed(); err != nil {
		return err
	}
	if b.dec == nil {
		b.dec = gunzip.NewDecoder()
	}
	var refBuf []byte
	var err error
	b.member, err = b.dec.Members(gz, b.member, func(off, n int, data []byte) error {
		byRef := b.useRefs && len(data) <= MaxRefMember
		var id uint64
		if byRef {
			if id = b.fileIDs[key]; id == 0 {
				id = uint64(len(b.fileIDs) + 1)
				b.fileIDs[key] = id
			}
		}
		for i := uint64(0); len(data) > 0; i++ {
			j := bytes.IndexByte(data, '\n')
			if j < 0 {
				j = len(data)
			}
			if line := data[:j]; len(line) > 0 {
				var r []byte
				if byRef {
					refBuf = appendRef(refBuf[:0], ref{id, uint64(off), uint64(n), i})
					r = refBuf
					b.byRef++
				}
				b.add(line, r)
			}
			data = data[min(j+1, len(data)):]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("index: %s: %w", key, err)
	}
	return nil
}

func (b *Builder) dispatch() {
	if len(b.pendingAt) == 0 {
		return
	}
	if len(b.refsAt) > 0 {
		for len(b.refsAt) < len(b.pendingAt) {
			b.refsAt = append(b.refsAt, len(b.refs))
		}
	}
	b.work <- &buildBatch{seq: b.next, data: b.pending, ends: b.pendingAt, refs: b.refs, rEnd: b.refsAt}
	b.next += uint64(len(b.pendingAt))
	b.pending, b.pendingAt, b.refs, b.refsAt = nil, nil, nil, nil
}

// SetNextWAL says which WAL index the index sink will add first after
// the build (the archive's checkpoint + 1), so that events added by WAL
// index after it get seqs after the built ones (Index.AddWAL).
func (b *Builder) SetNextWAL(i uint64) { b.nextWAL = i }

// ByReference is how many of the events given are kept by reference.
func (b *Builder) ByReference() uint64 { return b.byRef }

// Events is the number of events given so far.
func (b *Builder) Events() uint64 { return b.next - 1 + uint64(len(b.pendingAt)) }

func (b *Builder) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err == nil {
		b.err = err
	}
}

func (b *Builder) failed() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Finish writes and ingests the rest, and closes the new index; open it
// with Open.
func (b *Builder) Finish(ctx context.Context) error {
	if err := b.failed(); err == nil {
		b.dispatch()
	}
	b.stop()
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range b.workers {
		wg.Go(func() {
			if err := w.spill(); err != nil {
				b.fail(err)
			}
		})
	}
	wg.Wait()
	if err := b.failed(); err != nil {
		b.Abort()
		return err
	}
	b.timed("last spill", start)
	if err := b.merge(ctx); err != nil {
		b.Abort()
		return err
	}
	start = time.Now()
	if len(b.files) > 0 {
		if err := b.db.Ingest(ctx, b.files); err != nil {
			b.Abort()
			return fmt.Errorf("index: ingest: %w", err)
		}
	}
	b.timed("ingest", start)
	meta := b.db.NewBatch()
	meta.Set(metaVersion, []byte(FormatVersion), nil)
	for key, id := range b.fileIDs {
		meta.Set(fileKey(id), []byte(key), nil)
	}
	if b.nextWAL > 0 {
		meta.Set(metaWAL, walMeta(b.next-b.nextWAL, b.nextWAL), nil)
	}
	meta.Set(metaNextSeq, binary.BigEndian.AppendUint64(nil, b.next), nil)
	err := meta.Commit(pebble.Sync)
	meta.Close()
	if err == nil {
		err = os.RemoveAll(b.tmp)
	}
	if err2 := b.db.Close(); err == nil {
		err = err2
	}
	b.db = nil
	if err != nil {
		b.Abort()
		return fmt.Errorf("index: finish: %w", err)
	}
	return nil
}

// stop lets the workers finish the batches given and waits for them.
func (b *Builder) stop() {
	if b.work != nil {
		close(b.work)
		b.work = nil
		b.wg.Wait()
	}
}

// Abort stops the build and removes its directory.
func (b *Builder) Abort() {
	b.fail(errors.New("index: build aborted"))
	b.stop()
	if b.db != nil {
		b.db.Close()
		b.db = nil
	}
	os.RemoveAll(b.dir)
}

// newTable creates a table file for ingestion.
func (b *Builder) newTable(name string, wo sstable.WriterOptions) (*sstable.Writer, string, error) {
	path := filepath.Join(b.tmp, name)
	f, err := vfs.Default.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, "", err
	}
	return sstable.NewWriter(objstorageprovider.NewFileWritable(f), wo), path, nil
}

// refBlockBytes is the data block size of e tables of references: a
// lookup reads one block per event, and at 4 bytes a reference a 64 KiB
// block would hold some 16,000 of them to inflate for one.
const refBlockBytes = 4 << 10

func (b *Builder) addFile(path string) {
	b.mu.Lock()
	b.files = append(b.files, path)
	b.mu.Unlock()
}

// buildWorker turns batches into e tables and its share of the runs.
type buildWorker struct {
	b       *Builder
	budget  int
	used    int
	runs    [256]*run // by kind: a map's lookup for each posting cost more
	counts  counts
	tenants map[string]bool
	dec     keyDecoder
	key     []byte
	sort    sortScratch

	actorDays actorDays // counts by actor, from the actor postings
	out       []byte    // a run's entries before they are written
}

// runWriteBytes is how much of a run is written at a time.
const runWriteBytes = 1 << 20

// run is one kind's postings in a worker's memory, unsorted until spilled.
// Keys and values fill chunks that are never moved (a growing slice would
// copy everything at each doubling) and are reused after a spill.
type run struct {
	chunks [][]byte
	cur    int // the chunk being filled
	ents   []runEnt
}

type runEnt struct {
	chunk, off uint32
	klen, vlen uint16
}

// runEntBytes is what an entry costs beside its key, for the budget.
const runEntBytes = 12

const runChunk = 1 << 20

func (r *run) add(k, v []byte) {
	n := len(k) + len(v)
	if len(r.chunks) == 0 || len(r.chunks[r.cur])+n > runChunk {
		if len(r.chunks) > 0 {
			r.cur++
		}
		if r.cur == len(r.chunks) {
			r.chunks = append(r.chunks, make([]byte, 0, runChunk))
		}
	}
	c := r.chunks[r.cur]
	r.ents = append(r.ents, runEnt{uint32(r.cur), uint32(len(c)), uint16(len(k)), uint16(len(v))})
	r.chunks[r.cur] = append(append(c, k...), v...)
}

// prefetchAhead is how many entries ahead of the one it reads a loop over
// entries in key order prefetches (prefetch): far enough for the memory
// to answer, near enough for the lines to be in cache still.
const prefetchAhead = 16

// prefetch prefetches e's key.
func (r *run) prefetch(e runEnt) { prefetch(&r.chunks[e.chunk][e.off]) }

// prefetchAt prefetches e's key from its byte d on (its last byte when it
// is shorter).
func (r *run) prefetchAt(e runEnt, d int) {
	prefetch(&r.chunks[e.chunk][e.off+uint32(min(d, int(e.klen)-1))])
}

func (r *run) key(e runEnt) []byte {
	return r.chunks[e.chunk][e.off : e.off+uint32(e.klen)]
}

func (r *run) entry(e runEnt) []byte {
	return r.chunks[e.chunk][e.off : e.off+uint32(e.klen)+uint32(e.vlen)]
}

func (r *run) reset() {
	for i := range r.chunks {
		r.chunks[i] = r.chunks[i][:0]
	}
	r.cur, r.ents = 0, r.ents[:0]
}

func (w *buildWorker) loop(work <-chan *buildBatch) {
	for bb := range work {
		if w.b.failed() != nil {
			continue // drain
		}
		if err := w.batch(bb); err != nil {
			w.b.fail(err)
		}
		select {
		case w.b.free <- bb:
		default:
		}
	}
}

func (w *buildWorker) batch(bb *buildBatch) error {
	wo := w.b.wo
	if len(bb.rEnd) > 0 {
		wo.BlockSize = refBlockBytes
	}
	tw, path, err := w.b.newTable(fmt.Sprintf("e-%016x.sst", bb.seq), wo)
	if err != nil {
		return err
	}
	var ek [9]byte
	ek[0] = kindEvent
	start, rstart := 0, 0
	for i, end := range bb.ends {
		line := bb.data[start:end]
		start = end
		seq := bb.seq + uint64(i)
		binary.BigEndian.PutUint64(ek[1:], seq)
		v := line
		if len(bb.rEnd) > 0 {
			if r := bb.refs[rstart:bb.rEnd[i]]; len(r) > 0 {
				v = r
			}
			rstart = bb.rEnd[i]
		}
		if err := tw.Set(ek[:], v); err != nil {
			tw.Close()
			return err
		}
		e, err := w.dec.decode(line)
		if err != nil {
			tw.Close()
			return fmt.Errorf("index: event %d: %w", seq, err)
		}
		if e.ID == "" {
			tw.Close()
			return fmt.Errorf("index: event %d has no id", seq)
		}
		tenant := e.Tenant
		if tenant == "" {
			tenant = event.DefaultTenant
		}
		w.key = eachPosting(w.key, e, tenant, seq, w.posting)
		w.counts.add(tenant, e)
		if !w.tenants[tenant] {
			// tenant points into the batch, which is reused.
			w.tenants[strings.Clone(tenant)] = true
			w.posting(kindTenant, postingPrefix(w.key[:0], kindTenant, tenant))
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	w.b.addFile(path)
	if w.used+w.counts.n*48 >= w.budget {
		return w.spill()
	}
	return nil
}

func (w *buildWorker) posting(kind byte, k []byte) {
	w.run(kind).add(k, nil)
	w.used += len(k) + runEntBytes
}

func (w *buildWorker) run(kind byte) *run {
	r := w.runs[kind]
	if r == nil {
		r = &run{}
		w.runs[kind] = r
	}
	return r
}

// spill sorts the worker's postings and counters and writes them to one
// run file per kind.
func (w *buildWorker) spill() error {
	// The actor postings first: writing them counts them by actor and day
	// into the counters' run.
	if r := w.runs[kindActor]; r != nil && len(r.ents) > 0 {
		r.sortEnts(&w.sort)
		if err := w.writeRun(kindActor, r, &w.actorDays); err != nil {
			return err
		}
		w.actorDays.flush()
		r.reset()
	}
	if w.counts.n > 0 {
		r := w.run(kindCount)
		var v [8]byte
		w.counts.each(func(key []byte, n uint64) error {
			binary.BigEndian.PutUint64(v[:], n)
			r.add(key, v[:])
			return nil
		})
		w.counts.reset()
	}
	for kind, r := range &w.runs {
		if r == nil || len(r.ents) == 0 {
			continue
		}
		r.sortEnts(&w.sort)
		if err := w.writeRun(byte(kind), r, nil); err != nil {
			return err
		}
		r.reset()
	}
	w.used = 0
	return nil
}

// writeRun writes r, sorted, to a new run file of kind, giving each key to
// days when it is not nil.
func (w *buildWorker) writeRun(kind byte, r *run, days *actorDays) error {
	b := w.b
	b.mu.Lock()
	b.nrun++
	path := filepath.Join(b.tmp, fmt.Sprintf("run-%c-%06d", kind, b.nrun))
	b.mu.Unlock()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// Each entry: the bytes its key shares with the one before, the
	// length of the rest of the key and of the value, then both. They
	// are appended to the worker's buffer, written out each megabyte.
	buf := w.out[:0]
	var prev []byte
	for i, e := range r.ents {
		if i+prefetchAhead < len(r.ents) {
			r.prefetch(r.ents[i+prefetchAhead])
		}
		k, kv := r.key(e), r.entry(e)
		shared := commonPrefix(prev, k)
		if days != nil {
			days.add(k, shared)
		}
		buf = binary.AppendUvarint(buf, uint64(shared))
		buf = binary.AppendUvarint(buf, uint64(len(k)-shared))
		buf = binary.AppendUvarint(buf, uint64(e.vlen))
		buf = append(buf, kv[shared:]...)
		prev = k
		if len(buf) >= runWriteBytes {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return err
			}
			buf = buf[:0]
		}
	}
	w.out = buf
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	b.mu.Lock()
	b.runs[kind] = append(b.runs[kind], path)
	b.mu.Unlock()
	return nil
}

// merge merges each kind's runs into tables, kinds in parallel, the
// largest first: the merge ends when its last kind does, and a large kind
// taken last would leave the other workers idle for most of it.
func (b *Builder) merge(ctx context.Context) error {
	type sized struct {
		kind  byte
		bytes int64
	}
	var order []sized
	for _, k := range postingKinds {
		if len(b.runs[k]) == 0 {
			continue
		}
		s := sized{kind: k}
		for _, path := range b.runs[k] {
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			s.bytes += fi.Size()
		}
		order = append(order, s)
	}
	slices.SortStableFunc(order, func(a, b sized) int { return cmp.Compare(b.bytes, a.bytes) })
	kinds := make(chan byte, len(order))
	for _, s := range order {
		kinds <- s.kind
	}
	close(kinds)
	var wg sync.WaitGroup
	for range len(b.workers) {
		wg.Go(func() {
			for k := range kinds {
				if b.failed() != nil {
					continue
				}
				if err := b.mergeKind(ctx, k); err != nil {
					b.fail(err)
				}
			}
		})
	}
	wg.Wait()
	return b.failed()
}

// tableBytes is where a merged table is cut.
const tableBytes = 256 << 20

func (b *Builder) mergeKind(ctx context.Context, kind byte) error {
	defer b.timed("merge "+string(kind), time.Now())
	var runs []*runReader
	defer func() {
		for _, r := range runs {
			r.f.Close()
		}
	}()
	for _, path := range b.runs[kind] {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		r := newRunReader(f, path, runReadBytes)
		runs = append(runs, r)
		if err := r.next(); err != nil {
			return err
		}
	}
	m := newRunMerger(runs)
	var tw *sstable.Writer
	var path string
	nt := 0
	finish := func() error {
		if tw == nil {
			return nil
		}
		err := tw.Close()
		tw = nil
		if err == nil {
			b.addFile(path)
		}
		return err
	}
	defer func() {
		if tw != nil {
			tw.Close()
		}
	}()
	var key, val []byte
	var sum uint64
	nkeys := 0
	have := false
	grouped := slices.Contains(groupedKinds, kind) // group.go
	var g grouper
	emit := func() error {
		if !have {
			return nil
		}
		if tw != nil && nkeys%1024 == 0 && tw.Raw().EstimatedSize() >= tableBytes {
			if err := finish(); err != nil {
				return err
			}
		}
		if tw == nil {
			var err error
			nt++
			if tw, path, err = b.newTable(fmt.Sprintf("%c-%06d.sst", kind, nt), b.wo); err != nil {
				return err
			}
		}
		nkeys++
		switch {
		case grouped:
			return tw.Set(g.key, g.val)
		case kind == kindCount:
			val = binary.BigEndian.AppendUint64(val[:0], sum)
		}
		return tw.Set(key, val)
	}
	for n := 0; ; n++ {
		if n%(1<<16) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r := m.min()
		if r == nil {
			break
		}
		switch {
		case grouped && have && g.add(r.key):
		case grouped:
			if err := emit(); err != nil {
				return err
			}
			g.start(r.key)
			have = true
		case !have || !bytes.Equal(r.key, key):
			if err := emit(); err != nil {
				return err
			}
			key = append(key[:0], r.key...)
			val = append(val[:0], r.val...)
			sum = 0
			have = true
		}
		if kind == kindCount {
			if len(r.val) != 8 {
				return fmt.Errorf("index: counter of %d bytes in a run", len(r.val))
			}
			sum += binary.BigEndian.Uint64(r.val)
		}
		if err := r.next(); err != nil {
			return err
		}
		m.fix()
	}
	if err := emit(); err != nil {
		return err
	}
	if err := finish(); err != nil {
		return err
	}
	for _, p := range b.runs[kind] {
		os.Remove(p)
	}
	return nil
}

// runReader reads a run file's entries in order, through its own buffer:
// an entry is parsed where it lies (bufio's calls, four an entry, were
// most of reading one).
type runReader struct {
	f        *os.File
	path     string
	buf      []byte // buf[p:n] is read from the file and not yet parsed
	p, n     int
	eof      bool
	done     bool   // no entry left: key and val are stale
	key, val []byte // the entry read; the next key may share key's first bytes; val is valid until the next call
}

// runReadBytes is a run reader's buffer.
const runReadBytes = 1 << 20

func newRunReader(f *os.File, path string, size int) *runReader {
	return &runReader{f: f, path: path, buf: make([]byte, size)}
}

// fill makes want bytes unparsed in the buffer, or as many as the file
// has left.
func (r *runReader) fill(want int) error {
	if r.n-r.p >= want || r.eof {
		return nil
	}
	r.n = copy(r.buf, r.buf[r.p:r.n])
	r.p = 0
	if want > len(r.buf) {
		r.buf = slices.Grow(r.buf[:r.n], want-r.n)[:want]
	}
	for r.n < want {
		m, err := r.f.Read(r.buf[r.n:])
		r.n += m
		if err == io.EOF {
			r.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("index: run %s: %w", r.path, err)
		}
	}
	return nil
}

// next reads the next entry, or sets done.
func (r *runReader) next() error {
	if err := r.fill(3 * binary.MaxVarintLen32); err != nil {
		return err
	}
	if r.p == r.n {
		r.done = true
		return nil
	}
	var h [3]uint64
	p := 0
	for i := range h {
		v, n := binary.Uvarint(r.buf[r.p+p : r.n])
		if n <= 0 {
			return fmt.Errorf("index: run %s: damaged or truncated", r.path)
		}
		h[i], p = v, p+n
	}
	shared, rest, vl := h[0], h[1], h[2]
	if shared > uint64(len(r.key)) || rest > 1<<16 || vl > 1<<16 {
		return fmt.Errorf("index: run %s: damaged", r.path)
	}
	need := p + int(rest) + int(vl)
	if err := r.fill(need); err != nil {
		return err
	}
	if r.n-r.p < need {
		return fmt.Errorf("index: run %s: truncated", r.path)
	}
	e := r.buf[r.p+p : r.p+need]
	r.key = append(r.key[:shared], e[:rest]...)
	r.val = e[rest:]
	r.p += need
	return nil
}

// runMerger gives the entries of several runs in key order: a heap of
// the runs by their next key. (A tree of losers, which compares a new key
// once per level, was slower: the run that gave the least key mostly
// holds the next one too, and the heap sees that in two comparisons.)
type runMerger struct {
	h []*runReader // the runs not done, a min-heap by key
}

func newRunMerger(runs []*runReader) *runMerger {
	m := &runMerger{}
	for _, r := range runs {
		if !r.done {
			m.h = append(m.h, r)
		}
	}
	for i := len(m.h)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m
}

// min is the run with the least key, nil when every run is done.
func (m *runMerger) min() *runReader {
	if len(m.h) == 0 {
		return nil
	}
	return m.h[0]
}

// fix restores the order after min's run moved to its next entry.
func (m *runMerger) fix() {
	if m.h[0].done {
		last := len(m.h) - 1
		m.h[0] = m.h[last]
		m.h = m.h[:last]
		if last == 0 {
			return
		}
	}
	m.down(0)
}

func (m *runMerger) down(i int) {
	h := m.h
	for {
		c := 2*i + 1
		if c >= len(h) {
			return
		}
		if c+1 < len(h) && bytes.Compare(h[c+1].key, h[c].key) < 0 {
			c++
		}
		if bytes.Compare(h[c].key, h[i].key) >= 0 {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// commonPrefix is how many leading bytes a and b share.
func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	i := 0
	for ; i+8 <= n; i += 8 {
		if x := binary.LittleEndian.Uint64(a[i:]) ^ binary.LittleEndian.Uint64(b[i:]); x != 0 {
			return i + bits.TrailingZeros64(x)/8
		}
	}
	for ; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}
