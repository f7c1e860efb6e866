package archive

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"
	_ "time/tzdata" // time zones from the binary, so Asia/Tokyo works in a scratch container

	"github.com/klauspost/compress/gzip"

	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/parquetfile"
	"github.com/kansa-audit/kansa/internal/rawjson"
	"github.com/kansa-audit/kansa/internal/record"
)

// Defaults for Config.
const (
	DefaultPrefix      = "tenant=!{tenant}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
	DefaultErrorPrefix = "errors/!{error_type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
	ManifestPrefix     = "_kansa/manifests/"
	// ManifestVersion 2 added file roots and log entries (tamper
	// evidence); readers take 1 and 2.
	ManifestVersion = 2
)

// Config is the archive section of the config file.
type Config struct {
	// Prefix is the object-key template for events, in Firehose's
	// !{timestamp:…} syntax plus !{tenant} and !{source}.
	Prefix string `yaml:"prefix"`
	// ErrorPrefix is the template for records that could not become
	// events; !{error_type} names why (decode, map, invalid).
	ErrorPrefix string `yaml:"error_prefix"`
	// TimeZone is the IANA zone the templates' timestamps are read in
	// (default UTC), e.g. Asia/Tokyo.
	TimeZone string `yaml:"time_zone"`
	// GzipLevel is 1 (fastest) to 9 (smallest); 0 means 1.
	GzipLevel int `yaml:"gzip_level"`
	// MemberBytes is how much NDJSON becomes one gzip member of a file:
	// MinMemberBytes to MaxMemberBytes, default MaxMemberBytes. With
	// 256 KiB or less, the search index keeps where each event is instead
	// of a copy (docs/search-index.md), for about 7 more archive bytes an
	// event at 64 KiB (bench/gzmember).
	MemberBytes int `yaml:"member_bytes"`
	// Parquet also writes each batch's events as Parquet files
	// (internal/parquetfile), under ParquetPrefix, for query engines. The
	// gzip NDJSON files are always written: search reads them.
	Parquet bool `yaml:"-"`
	// ParquetPrefix is the template for Parquet files; default
	// DefaultParquetPrefix. It must differ from Prefix so that a query
	// engine's table over it sees Parquet files only.
	ParquetPrefix string `yaml:"-"`
}

// DefaultParquetPrefix is where Parquet files go by default: the default
// prefix under parquet/.
const DefaultParquetPrefix = "parquet/" + DefaultPrefix

// File formats in manifests.
const (
	FormatNDJSON  = "ndjson.gz"
	FormatParquet = "parquet"
)

// Writer writes batches to a store. It is safe for concurrent use.
type Writer struct {
	store     objstore.Store
	writer    string
	prefix    *Template
	errPrefix *Template
	loc       *time.Location
	level     int
	member    int
	parquet   *Template // nil: no Parquet files
	// tenantFiles and parquetTenant: the templates partition by tenant, so
	// each file holds one tenant's events and says which.
	tenantFiles, parquetTenant bool
	chain                      Chain // nil: no log entries
	placed                     func(context.Context, []Placement)
	mu                         sync.Mutex // Write and Expire, one at a time
}

// NewWriter checks cfg and returns a Writer for the collector writerID.
func NewWriter(cfg Config, store objstore.Store, writerID string) (*Writer, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.ErrorPrefix == "" {
		cfg.ErrorPrefix = DefaultErrorPrefix
	}
	w := &Writer{store: store, writer: writerID, level: cfg.GzipLevel, member: cfg.MemberBytes}
	if w.member == 0 {
		w.member = MaxMemberBytes
	}
	if w.member < MinMemberBytes || w.member > MaxMemberBytes {
		return nil, fmt.Errorf("archive.member_bytes: %d is not %d..%d", cfg.MemberBytes, MinMemberBytes, MaxMemberBytes)
	}
	if w.level == 0 {
		w.level = gzip.BestSpeed
	}
	if w.level < 1 || w.level > 9 {
		return nil, fmt.Errorf("archive.gzip_level: %d is not 1..9", cfg.GzipLevel)
	}
	if writerID == "" || string(AppendEscaped(nil, writerID)) != writerID {
		return nil, fmt.Errorf("writer id %q: use letters, digits, '.', '_' and '-' only", writerID)
	}
	var err error
	if w.prefix, err = ParseTemplate(cfg.Prefix); err != nil {
		return nil, fmt.Errorf("archive.prefix: %w", err)
	}
	if w.errPrefix, err = ParseTemplate(cfg.ErrorPrefix); err != nil {
		return nil, fmt.Errorf("archive.error_prefix: %w", err)
	}
	_, w.tenantFiles, _, _ = w.prefix.Uses()
	if w.loc, err = LoadLocation(cfg.TimeZone); err != nil {
		return nil, fmt.Errorf("archive.time_zone: %w", err)
	}
	if cfg.Parquet {
		if cfg.ParquetPrefix == "" {
			cfg.ParquetPrefix = DefaultParquetPrefix
		}
		if w.parquet, err = ParseTemplate(cfg.ParquetPrefix); err != nil {
			return nil, fmt.Errorf("archive.parquet_prefix: %w", err)
		}
		_, w.parquetTenant, _, _ = w.parquet.Uses()
		if cfg.ParquetPrefix == cfg.Prefix {
			return nil, fmt.Errorf("archive.parquet_prefix: must differ from archive.prefix (%q), or a query engine's table would read NDJSON files as Parquet", cfg.Prefix)
		}
	}
	return w, nil
}

// Store returns the store the writer writes to.
func (w *Writer) Store() objstore.Store { return w.store }

// Batch is one immutable range of WAL records to archive.
type Batch struct {
	First, Last uint64
	Closed      time.Time
	Entries     []record.Entry // events and rejects, in WAL order
	// Index is the WAL index of each entry, when known (the batch stage
	// sets it): OnPlaced reports events by it.
	Index []uint64
}

// A Placement says where the archive put one event: the gzip member of an
// NDJSON file that holds it, and its line in the member (0 for the first).
type Placement struct {
	Index     uint64 // the event's WAL index
	Key       string // the file's object key
	Off, Size int64  // the member's bytes in the file
	Line      int
}

// Manifest describes one written batch. Its JSON form is versioned.
type Manifest struct {
	Version  int       `json:"version"`
	Writer   string    `json:"writer"`
	First    uint64    `json:"first"`
	Last     uint64    `json:"last"`
	ClosedAt string    `json:"closed_at"`
	Events   int       `json:"events"`
	Rejects  int       `json:"rejects"`
	TimeMin  string    `json:"time_min,omitempty"`
	TimeMax  string    `json:"time_max,omitempty"`
	Seq      []SeqSpan `json:"seq,omitempty"`
	// Sources counts the batch's records per source and day.
	Sources []SourceDay `json:"sources,omitempty"`
	Files   []File      `json:"files"`
	// Logs are the leaves this batch appended to its writer's logs, one
	// per log its files belong to (docs/tamper-evidence.md).
	Logs []LogEntry `json:"logs,omitempty"`
}

// File is one object written for a batch.
type File struct {
	Key     string `json:"key"`
	Kind    string `json:"kind"` // "events" or "rejects"
	Format  string `json:"format"`
	Records int    `json:"records"`
	Bytes   int    `json:"bytes"`
	SHA256  string `json:"sha256"`
	// Root is the Merkle root (RFC 9162) over the file's lines, each leaf
	// the hash of the line's exact bytes; NDJSON files only.
	Root    string `json:"root,omitempty"`
	TimeMin string `json:"time_min"`
	TimeMax string `json:"time_max"`
	Tenant  string `json:"tenant,omitempty"`
}

// ManifestKey returns the manifest's key for a batch of writer.
func ManifestKey(writer string, first, last uint64) string {
	return fmt.Sprintf("%swriter=%s/%020d-%020d.json", ManifestPrefix, writer, first, last)
}

type fileBuf struct {
	member   int // bytes of NDJSON in one member
	kind     string
	tenant   string
	segs     [][]byte      // uncompressed lines, cut into segments of about member bytes
	segLines []int         // how many lines each segment holds
	idx      []uint64      // the WAL index of each line, when placements are reported
	members  [][]byte      // segs compressed, one gzip member each
	leaves   []merkle.Hash // the leaf hash of each line, filled segment by segment
	n        int
	min, max int64
}

// MaxMemberBytes is how much uncompressed NDJSON becomes one gzip member
// by default (Config.MemberBytes), and at most. A
// file is a concatenation of members (RFC 1952 §2.2 allows it; gzip -d and
// Go's compress/gzip read it as one stream, see
// TestLargeFileIsOneGzipStream), so the members of a batch are compressed in
// parallel, on every core, and the archive keeps pace with ingest. Segments
// end on line boundaries.
const MaxMemberBytes = 1 << 20

// MinMemberBytes is the smallest Config.MemberBytes.
const MinMemberBytes = 16 << 10

// segPools hold segment buffers, a pool for each member size.
var segPools sync.Map // int → *sync.Pool

func segPool(size int) *sync.Pool {
	if p, ok := segPools.Load(size); ok {
		return p.(*sync.Pool)
	}
	p, _ := segPools.LoadOrStore(size, &sync.Pool{New: func() any { b := make([]byte, 0, size); return &b }})
	return p.(*sync.Pool)
}

func (f *fileBuf) add(body []byte) {
	n := len(f.segs)
	if n == 0 || len(f.segs[n-1]) > 0 && len(f.segs[n-1])+len(body)+1 > f.member ||
		len(f.segs[n-1])+len(body)+1 > cap(f.segs[n-1]) {
		var seg []byte
		if len(body)+1 <= f.member {
			seg = (*segPool(f.member).Get().(*[]byte))[:0]
		} else {
			seg = make([]byte, 0, len(body)+1)
		}
		f.segs = append(f.segs, seg)
		f.segLines = append(f.segLines, 0)
		n++
	}
	f.segs[n-1] = append(rawjson.AppendOneLine(f.segs[n-1], body), '\n') // one line, even from an older kansa's WAL
	f.segLines[n-1]++
}

// compress fills every file's members, spreading segments over one
// goroutine per core; each member is deterministic, so the same batch gives
// the same bytes.
func (w *Writer) compress(files []*fileBuf) error {
	type job struct {
		f      *fileBuf
		i, off int // segment i's lines are leaves off onwards
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			zw, err := gzip.NewWriterLevel(&out, w.level)
			h := merkle.NewHasher()
			for j := range jobs {
				// Each line's leaf goes to its place in the file's leaves.
				n := j.f.segLines[j.i]
				if got := hashLines(h, j.f.leaves[j.off:j.off:j.off+n], j.f.segs[j.i]); len(got) != n && err == nil {
					err = fmt.Errorf("archive: %d records make %d lines", n, len(got))
				}
				if err == nil {
					out.Reset()
					zw.Reset(&out)
					zw.Write(j.f.segs[j.i])
					err = zw.Close()
					j.f.members[j.i] = bytes.Clone(out.Bytes())
				}
				if err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		f.members = make([][]byte, len(f.segs))
		f.leaves = make([]merkle.Hash, f.n)
		off := 0
		for i := range f.segs {
			jobs <- job{f, i, off}
			off += f.segLines[i]
		}
	}
	close(jobs)
	wg.Wait()
	for _, f := range files {
		for _, seg := range f.segs {
			if cap(seg) == f.member {
				seg = seg[:0]
				segPool(f.member).Put(&seg)
			}
		}
		f.segs = nil
	}
	return firstErr
}

// Write stores every object of b and then its manifest. It is idempotent:
// the same batch always produces the same keys and bytes.
func (w *Writer) Write(ctx context.Context, b *Batch) (*Manifest, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := &Manifest{Version: ManifestVersion, Writer: w.writer, First: b.First, Last: b.Last,
		ClosedAt: b.Closed.UTC().Format(time.RFC3339Nano)}
	files := map[string]*fileBuf{}
	var acc Accounts
	var key []byte
	var tmin, tmax int64
	suffix := fmt.Sprintf("kansa-%s-%020d-%020d.ndjson.gz", w.writer, b.First, b.Last)
	var v Values // tenant and source strings are reused while they repeat
	report := w.placed != nil && len(b.Index) == len(b.Entries)
	for i := range b.Entries {
		e := &b.Entries[i]
		v.Time = time.UnixMicro(e.Time).In(w.loc)
		if v.Tenant != string(e.Tenant) {
			v.Tenant = string(e.Tenant)
		}
		if v.Source != string(e.Source) {
			v.Source = string(e.Source)
		}
		v.ErrorType = ""
		kind := "events"
		tmpl := w.prefix
		if e.Type == record.TypeReject {
			kind, tmpl = "rejects", w.errPrefix
			v.ErrorType = rejectType(e.Body)
			m.Rejects++
			acc.Add(e)
		} else {
			m.Events++
			if m.Events == 1 || e.Time < tmin {
				tmin = e.Time
			}
			if m.Events == 1 || e.Time > tmax {
				tmax = e.Time
			}
			acc.Add(e)
		}
		key = tmpl.Append(key[:0], &v)
		key = append(key, suffix...)
		f := files[string(key)]
		if f == nil {
			f = &fileBuf{member: w.member, kind: kind, min: e.Time, max: e.Time}
			if kind == "events" && w.tenantFiles {
				f.tenant = v.Tenant
			}
			files[string(key)] = f
		}
		f.min, f.max = min(f.min, e.Time), max(f.max, e.Time)
		f.n++
		f.add(e.Body)
		if report && kind == "events" {
			f.idx = append(f.idx, b.Index[i])
		}
	}
	keys := make([]string, 0, len(files))
	for k := range files {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	ordered := make([]*fileBuf, len(keys))
	for i, k := range keys {
		ordered[i] = files[k]
	}
	// The Parquet files encode while the NDJSON files compress and upload.
	var parquet func(context.Context) ([]File, error)
	if w.parquet != nil {
		parquet = w.startParquet(b)
	}
	err := w.compress(ordered)
	var placed []Placement
	if report && err == nil {
		placed = placements(keys, ordered)
	}
	objs := make([]object, len(keys))
	for i, k := range keys {
		objs[i] = object{k, slices.Concat(ordered[i].members...)}
	}
	// The files' SHA-256 on one goroutine while their roots take every
	// core: both are on the path of every batch.
	sums := make([][sha256.Size]byte, len(objs))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range objs {
			sums[i] = sha256.Sum256(objs[i].data)
		}
	})
	roots := make([]merkle.Hash, len(objs))
	for i, f := range ordered {
		roots[i] = merkle.RootParallel(f.leaves, runtime.GOMAXPROCS(0))
	}
	wg.Wait()
	for i, f := range ordered {
		m.Files = append(m.Files, File{Key: keys[i], Kind: f.kind, Format: FormatNDJSON, Records: f.n, Bytes: len(objs[i].data),
			SHA256: hex.EncodeToString(sums[i][:]), Root: HexHash(roots[i]), TimeMin: formatMicros(f.min), TimeMax: formatMicros(f.max), Tenant: f.tenant})
	}
	if err == nil {
		err = w.putAll(ctx, objs)
	}
	if parquet != nil {
		// Waited for even after an error, so that no encoder outlives
		// Write; after an error its context is ended, so it puts nothing.
		pctx, cancel := context.WithCancel(ctx)
		if err != nil {
			cancel()
		}
		files, perr := parquet(pctx)
		cancel()
		err = cmp.Or(err, perr)
		m.Files = append(m.Files, files...)
	}
	if err != nil {
		return nil, err
	}
	if m.Events > 0 {
		m.TimeMin, m.TimeMax = formatMicros(tmin), formatMicros(tmax)
	}
	m.Sources, m.Seq = acc.Result()
	var commit func() error
	if w.chain != nil {
		var leaves []Leaf
		for _, log := range Logs(m.Files) {
			leaves = append(leaves, Leaf{log, merkle.LeafHash(BatchLeaf(w.writer, log, b.First, b.Last, m.Files))})
		}
		m.Logs, commit, err = w.chain.Append(b.First, b.Last, leaves)
		if errors.Is(err, ErrLogged) {
			return w.loggedBefore(ctx, m, err)
		}
		if err != nil {
			return nil, err
		}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := w.store.Put(ctx, ManifestKey(w.writer, b.First, b.Last), append(data, '\n')); err != nil {
		return nil, err
	}
	if commit != nil {
		if err := commit(); err != nil {
			return nil, err
		}
	}
	if len(placed) > 0 {
		w.placed(ctx, placed)
	}
	return m, nil
}

// OnPlaced has fn told, after each batch is archived, where each of its
// events went (by WAL index; batches without WAL indexes are not
// reported). fn runs on Write's goroutine, before Write returns; it is set
// before the first Write.
func (w *Writer) OnPlaced(fn func(context.Context, []Placement)) { w.placed = fn }

// placements lists where the lines of files went, member by member.
func placements(keys []string, files []*fileBuf) []Placement {
	var out []Placement
	for i, f := range files {
		if len(f.idx) != f.n {
			continue
		}
		var off int64
		line := 0
		for j, mem := range f.members {
			for k := range f.segLines[j] {
				out = append(out, Placement{Index: f.idx[line], Key: keys[i], Off: off, Size: int64(len(mem)), Line: k})
				line++
			}
			off += int64(len(mem))
		}
	}
	return out
}

// loggedBefore answers a batch the logs already passed (the sink's
// checkpoint went back): its manifest must be in the store, listing the
// same files; then the batch is already archived and logged.
func (w *Writer) loggedBefore(ctx context.Context, m *Manifest, cause error) (*Manifest, error) {
	key := ManifestKey(w.writer, m.First, m.Last)
	data, err := w.store.Get(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("batch %d-%d: %w, and its manifest cannot be read: %v", m.First, m.Last, cause, err)
	}
	old := new(Manifest)
	if err := json.Unmarshal(data, old); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", key, err)
	}
	if !slices.Equal(old.Files, m.Files) {
		return nil, fmt.Errorf("batch %d-%d: %w, and its manifest %s lists other files than this attempt wrote", m.First, m.Last, cause, key)
	}
	return old, nil
}

// WriteParquet writes only the Parquet files of b (none when the writer
// has no Parquet prefix), under the same keys Write gives them, and
// returns them. Events Parquet cannot hold are left out and reported
// as Write reports them, in the error output. kansa sql uses it to give
// batches archived without Parquet files, and the WAL tail, the same
// layout as the rest.
func (w *Writer) WriteParquet(ctx context.Context, b *Batch) ([]File, error) {
	if w.parquet == nil {
		return nil, nil
	}
	return w.startParquet(b)(ctx)
}

// startParquet starts encoding b's events as one Parquet file per
// partition of the Parquet prefix, each sorted and with bloom filters
// (internal/parquetfile), on one goroutine per core, largest partition
// first. The function it returns waits for the encoding, puts the files and
// any rejects, and lists them. The same batch gives the same keys and bytes.
func (w *Writer) startParquet(b *Batch) func(context.Context) ([]File, error) {
	type group struct {
		entries  []*record.Entry
		tenant   string
		min, max int64
	}
	groups := map[string]*group{}
	suffix := fmt.Sprintf("kansa-%s-%020d-%020d.parquet", w.writer, b.First, b.Last)
	var key []byte
	var v Values
	for i := range b.Entries {
		e := &b.Entries[i]
		if e.Type == record.TypeReject {
			continue
		}
		v.Time = time.UnixMicro(e.Time).In(w.loc)
		v.Tenant, v.Source = string(e.Tenant), string(e.Source)
		key = append(w.parquet.Append(key[:0], &v), suffix...)
		g := groups[string(key)]
		if g == nil {
			g = &group{min: e.Time, max: e.Time}
			if w.parquetTenant {
				g.tenant = v.Tenant
			}
			groups[string(key)] = g
		}
		g.min, g.max = min(g.min, e.Time), max(g.max, e.Time)
		g.entries = append(g.entries, e)
	}
	keys := slices.Sorted(maps.Keys(groups))
	type encoded struct {
		data   []byte
		n      int
		failed []parquetFailure
		err    error
	}
	out := make([]encoded, len(keys))
	// Largest first, so that a big partition does not start last and
	// leave the other cores idle.
	todo := make([]int, len(keys))
	for i := range todo {
		todo[i] = i
	}
	slices.SortStableFunc(todo, func(i, j int) int {
		return cmp.Compare(len(groups[keys[j]].entries), len(groups[keys[i]].entries))
	})
	jobs := make(chan int, len(todo))
	for _, i := range todo {
		jobs <- i
	}
	close(jobs)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(keys)) {
		wg.Go(func() {
			for i := range jobs {
				data, n, failed, err := encodeParquet(groups[keys[i]].entries)
				out[i] = encoded{data, n, failed, err}
			}
		})
	}
	return func(ctx context.Context) ([]File, error) {
		wg.Wait()
		files := make([]File, 0, len(keys))
		objs := make([]object, 0, len(keys))
		var failed []parquetFailure
		for i, k := range keys {
			g, o := groups[k], out[i]
			if o.err != nil {
				return nil, fmt.Errorf("parquet %s: %w", k, o.err)
			}
			failed = append(failed, o.failed...)
			if o.n == 0 {
				continue
			}
			objs = append(objs, object{k, o.data})
			sum := sha256.Sum256(o.data)
			files = append(files, File{Key: k, Kind: "events", Format: FormatParquet, Records: o.n, Bytes: len(o.data),
				SHA256: hex.EncodeToString(sum[:]), TimeMin: formatMicros(g.min), TimeMax: formatMicros(g.max), Tenant: g.tenant})
		}
		if err := w.putAll(ctx, objs); err != nil {
			return nil, err
		}
		if len(failed) > 0 {
			f, err := w.parquetRejects(ctx, b, failed)
			if err != nil {
				return nil, err
			}
			files = append(files, f...)
		}
		return files, nil
	}
}

// object is one object to put.
type object struct {
	key  string
	data []byte
}

// putConcurrency bounds the puts of one batch in flight at once: enough to
// hide a remote store's latency, few enough not to crowd its connections.
const putConcurrency = 4

// putAll puts objs, up to putConcurrency at a time. The first error cancels
// the rest and is returned.
func (w *Writer) putAll(ctx context.Context, objs []object) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, putConcurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	fail := func(err error) {
		mu.Lock()
		first = cmp.Or(first, err)
		mu.Unlock()
		cancel()
	}
	for _, o := range objs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			fail(ctx.Err())
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := w.store.Put(ctx, o.key, o.data); err != nil {
				fail(err)
			}
		})
	}
	wg.Wait()
	return first
}

// encodeParquet encodes entries as one Parquet file. Events Parquet cannot
// hold (rare: they were valid events when accepted) are found one by one,
// returned in failed with the reason and left out of the file.
func encodeParquet(entries []*record.Entry) (data []byte, n int, failed []parquetFailure, err error) {
	bodies := make([][]byte, len(entries))
	for i, e := range entries {
		bodies[i] = e.Body
	}
	var buf bytes.Buffer
	if _, err := parquetfile.Write(&buf, bodies, parquetfile.Options{}); err == nil {
		return buf.Bytes(), len(bodies), nil, nil
	}
	var good [][]byte
	for i, body := range bodies {
		buf.Reset()
		if _, err := parquetfile.Write(&buf, bodies[i:i+1], parquetfile.Options{}); err != nil {
			failed = append(failed, parquetFailure{entries[i], err})
			continue
		}
		good = append(good, body)
	}
	if len(good) == 0 {
		return nil, 0, failed, nil
	}
	buf.Reset()
	if _, err := parquetfile.Write(&buf, good, parquetfile.Options{}); err != nil {
		return nil, 0, nil, err
	}
	return buf.Bytes(), len(good), failed, nil
}

// parquetFailure is an event Parquet could not hold, and why.
type parquetFailure struct {
	entry *record.Entry
	err   error
}

// parquetRejects writes events Parquet could not hold to the error output,
// error type "parquet", as gzip NDJSON rejects that carry the event.
func (w *Writer) parquetRejects(ctx context.Context, b *Batch, failed []parquetFailure) ([]File, error) {
	suffix := fmt.Sprintf("kansa-%s-%020d-%020d.ndjson.gz", w.writer, b.First, b.Last)
	type group struct {
		lines    bytes.Buffer
		n        int
		min, max int64
	}
	groups := map[string]*group{}
	v := Values{ErrorType: "parquet"}
	var key []byte
	for _, f := range failed {
		e := f.entry
		v.Time = time.UnixMicro(e.Time).In(w.loc)
		v.Tenant, v.Source = string(e.Tenant), string(e.Source)
		key = append(w.errPrefix.Append(key[:0], &v), suffix...)
		g := groups[string(key)]
		if g == nil {
			g = &group{min: e.Time, max: e.Time}
			groups[string(key)] = g
		}
		line, _ := json.Marshal(map[string]any{"error_type": "parquet", "error": f.err.Error(), "line": string(e.Body)})
		g.lines.Write(line)
		g.lines.WriteByte('\n')
		g.n++
		g.min, g.max = min(g.min, e.Time), max(g.max, e.Time)
	}
	var files []File
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		g := groups[k]
		var out bytes.Buffer
		zw, err := gzip.NewWriterLevel(&out, w.level)
		if err != nil {
			return nil, err
		}
		zw.Write(g.lines.Bytes())
		if err := zw.Close(); err != nil {
			return nil, err
		}
		if err := w.store.Put(ctx, k, out.Bytes()); err != nil {
			return nil, err
		}
		sum := sha256.Sum256(out.Bytes())
		root := merkle.Root(hashLines(merkle.NewHasher(), nil, g.lines.Bytes()))
		files = append(files, File{Key: k, Kind: "rejects", Format: FormatNDJSON, Records: g.n, Bytes: out.Len(),
			SHA256: hex.EncodeToString(sum[:]), Root: HexHash(root), TimeMin: formatMicros(g.min), TimeMax: formatMicros(g.max)})
	}
	return files, nil
}

// hashLines appends the leaf hash of each line of data, lines ending in
// '\n', to dst. It is the one place the archive hashes lines, which
// bench/chaincost.sh's unhashed build replaces to time chaining's cost.
func hashLines(h *merkle.Hasher, dst []merkle.Hash, data []byte) []merkle.Hash {
	return h.AppendLeaves(dst, data)
}

func formatMicros(us int64) string {
	return time.UnixMicro(us).UTC().Format("2006-01-02T15:04:05.000000Z")
}

// rejectType reads error_type from a reject's JSON body.
func rejectType(body []byte) string {
	if v, ok := rawjson.Get(body, "error_type"); ok {
		if s, err := rawjson.Text(v); err == nil && s != "" {
			return s
		}
	}
	return "unknown"
}
