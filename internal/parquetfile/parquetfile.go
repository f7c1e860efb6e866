package parquetfile

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"iter"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
	"github.com/parquet-go/parquet-go/format"

	"github.com/kansa-audit/kansa/internal/event"
)

// Defaults for Options.
const (
	// DefaultRowGroupBytes caps a row group's uncompressed values. 128 MiB
	// is the row group size that parquet-mr, Spark and Trino write and that
	// Athena/Trino split on: big enough that per-row-group overhead (footer
	// entries, statistics, one bloom filter per column) stays negligible and
	// scans read long contiguous column chunks, small enough that a writer
	// holds one in memory.
	DefaultRowGroupBytes = 128 << 20
	// DefaultRowGroupRows caps a row group's rows: 1 Mi rows. Audit events
	// are small (about 500 bytes of values), so the byte cap alone would
	// allow ~250k rows; the row cap only binds for unusually small events,
	// where it keeps bloom filters (sized per row group) and min/max
	// statistics selective.
	DefaultRowGroupRows = 1 << 20
	// DefaultBloomBits is the bloom filters' size in bits per distinct
	// value: about 1% false positives for a split block filter.
	DefaultBloomBits = 10
)

// Sort is the order of rows within a file.
type Sort uint8

const (
	// SortActor orders by tenant, actor_type, actor_id, time (the
	// default). An actor's history is contiguous, and so are the events of
	// one request (they share actor, time, request id, address and user
	// agent), which compress together: files are within 2% of time order's
	// size, where target order costs 4% (archive batches) to 18%
	// (compacted files) more. See SCHEMA.md for the measurements.
	SortActor Sort = iota
	// SortTarget orders by tenant, target_type, target_id, time: a
	// record's history is contiguous, which halves record lookups in
	// large files and costs size.
	SortTarget
	// SortTime orders by time: the smallest files, no lookup helped.
	SortTime
)

// Columns returns the sort key's column names, most significant first. The
// event id, then the input order, break ties; they are not declared.
func (s Sort) Columns() []string {
	switch s {
	case SortTarget:
		return []string{"tenant", "target_type", "target_id", "time"}
	case SortTime:
		return []string{"time"}
	}
	return []string{"tenant", "actor_type", "actor_id", "time"}
}

func (s Sort) String() string { return strings.Join(s.Columns(), ",") }

// Options tune a file. The zero value gives the defaults.
type Options struct {
	// Sort orders the rows; default SortActor.
	Sort Sort
	// RowGroupBytes cuts a row group once its rows' values reach this many
	// uncompressed bytes; default DefaultRowGroupBytes.
	RowGroupBytes int64
	// RowGroupRows cuts a row group at this many rows; default
	// DefaultRowGroupRows.
	RowGroupRows int
	// BloomBits sizes the bloom filters on actor_id, target_id and
	// request_id, in bits per distinct value of the file; default
	// DefaultBloomBits, negative for no bloom filters.
	BloomBits int
}

// Stats describe a written file.
type Stats struct {
	Rows      int
	RowGroups int
	Bytes     int64 // bytes written to w
	// TimeMin and TimeMax are the least and greatest event time, µs since
	// the Unix epoch (0 when Rows is 0).
	TimeMin, TimeMax int64
}

// FormatVersion versions the column layout; it is written into every file's
// key-value metadata as kansa.parquet.
const FormatVersion = "1"

// rec is one decoded event; its strings alias the input line. "" is an
// absent field (kansa's encoding never distinguishes an empty optional field
// from a missing one), and 0 an absent seq_n or received_at.
type rec struct {
	ID           string
	Time         int64
	TimeOffset   string
	Action       string
	Outcome      string
	ActorType    string
	ActorID      string
	ActorName    string
	TargetType   string
	TargetID     string
	TargetSchema string
	TargetTable  string
	Tenant       string
	Source       string
	RequestID    string
	IP           string
	UserAgent    string
	Endpoint     string
	Caller       string
	TraceID      string
	Host         string
	SeqStream    string
	SeqN         int64
	Changes      string
	Meta         string
	Origin       string
	ReceivedAt   int64
	Original     string
}

// row declares the files' schema; the field order is the column order
// (SCHEMA.md). No value of it is ever built: Write fills each column
// directly from the recs (see columns), with its nulls explicit, so the
// Go zero values here mean nothing.
type row struct {
	ID           string `parquet:"id"`
	Time         int64  `parquet:"time,timestamp(microsecond:utc),delta"`
	TimeOffset   string `parquet:"time_offset,optional"`
	Action       string `parquet:"action,dict"`
	Outcome      string `parquet:"outcome,dict"`
	ActorType    string `parquet:"actor_type,optional"`
	ActorID      string `parquet:"actor_id,optional"`
	ActorName    string `parquet:"actor_name,optional,dict"`
	TargetType   string `parquet:"target_type,optional,dict"`
	TargetID     string `parquet:"target_id,optional"`
	TargetSchema string `parquet:"target_schema,optional"`
	TargetTable  string `parquet:"target_table,optional,dict"`
	Tenant       string `parquet:"tenant"`
	Source       string `parquet:"source,dict"`
	RequestID    string `parquet:"request_id,optional"`
	IP           string `parquet:"ip,optional"`
	UserAgent    string `parquet:"user_agent,optional,dict"`
	Endpoint     string `parquet:"endpoint,optional,dict"`
	Caller       string `parquet:"caller,optional,dict"`
	TraceID      string `parquet:"trace_id,optional"`
	Host         string `parquet:"host,optional,dict"`
	SeqStream    string `parquet:"seq_stream,optional,dict"`
	SeqN         int64  `parquet:"seq_n,optional,delta"`
	Changes      string `parquet:"changes,optional"`
	Meta         string `parquet:"meta,optional"`
	Origin       string `parquet:"origin,optional"`
	ReceivedAt   int64  `parquet:"received_at,optional,timestamp(microsecond:utc),delta"`
	Original     string `parquet:"original,optional"`
}

// column reads one column's value from a rec: str for byte array columns,
// num for int64 ones. A zero value is null in an optional column.
type column struct {
	str func(*rec) string
	num func(*rec) int64
}

// columns are the accessors in schema order; init checks them against row.
var columns = []column{
	{str: func(r *rec) string { return r.ID }},
	{num: func(r *rec) int64 { return r.Time }},
	{str: func(r *rec) string { return r.TimeOffset }},
	{str: func(r *rec) string { return r.Action }},
	{str: func(r *rec) string { return r.Outcome }},
	{str: func(r *rec) string { return r.ActorType }},
	{str: func(r *rec) string { return r.ActorID }},
	{str: func(r *rec) string { return r.ActorName }},
	{str: func(r *rec) string { return r.TargetType }},
	{str: func(r *rec) string { return r.TargetID }},
	{str: func(r *rec) string { return r.TargetSchema }},
	{str: func(r *rec) string { return r.TargetTable }},
	{str: func(r *rec) string { return r.Tenant }},
	{str: func(r *rec) string { return r.Source }},
	{str: func(r *rec) string { return r.RequestID }},
	{str: func(r *rec) string { return r.IP }},
	{str: func(r *rec) string { return r.UserAgent }},
	{str: func(r *rec) string { return r.Endpoint }},
	{str: func(r *rec) string { return r.Caller }},
	{str: func(r *rec) string { return r.TraceID }},
	{str: func(r *rec) string { return r.Host }},
	{str: func(r *rec) string { return r.SeqStream }},
	{num: func(r *rec) int64 { return r.SeqN }},
	{str: func(r *rec) string { return r.Changes }},
	{str: func(r *rec) string { return r.Meta }},
	{str: func(r *rec) string { return r.Origin }},
	{num: func(r *rec) int64 { return r.ReceivedAt }},
	{str: func(r *rec) string { return r.Original }},
}

func init() {
	fields := Schema.Fields()
	if len(fields) != len(columns) {
		panic("parquetfile: columns do not match the schema")
	}
	for i, f := range fields {
		if (f.Type().Kind() == parquet.Int64) != (columns[i].num != nil) {
			panic("parquetfile: column " + f.Name() + " has the wrong accessor")
		}
	}
}

// size estimates the row's uncompressed bytes, for cutting row groups.
func (r *rec) size() int64 {
	return int64(len(r.ID) + len(r.TimeOffset) + len(r.Action) + len(r.Outcome) + len(r.ActorType) +
		len(r.ActorID) + len(r.ActorName) + len(r.TargetType) + len(r.TargetID) + len(r.TargetSchema) +
		len(r.TargetTable) + len(r.Tenant) + len(r.Source) + len(r.RequestID) + len(r.IP) + len(r.UserAgent) +
		len(r.Endpoint) + len(r.Caller) + len(r.TraceID) + len(r.Host) + len(r.SeqStream) + len(r.Changes) +
		len(r.Meta) + len(r.Origin) + len(r.Original) + 3*8)
}

// Schema is the files' Parquet schema.
var Schema = parquet.SchemaOf(row{})

// zstdCodec is shared so that its pooled encoders are reused across files.
var zstdCodec = &zstd.Codec{Level: zstd.SpeedDefault}

// dictionaryMaxBytes makes a dictionary-encoded column fall back to plain
// encoding when its dictionary outgrows 1 MiB, as parquet-mr's default
// dictionary page size does; a column of mostly distinct values then costs
// no more than plain.
const dictionaryMaxBytes = 1 << 20

// bloomColumns have split block bloom filters: the point lookups of search
// (actor:, target:, a request's events).
var bloomColumns = []string{"actor_id", "target_id", "request_id"}

// Write encodes events, each one event in kansa's stored JSON encoding, as
// one Parquet file written to w. The events must not change until Write
// returns; Write does not keep them. An event that does not decode is an
// error naming its index, and nothing useful has then been written to w.
func Write(w io.Writer, events [][]byte, opts Options) (Stats, error) {
	if opts.RowGroupBytes <= 0 {
		opts.RowGroupBytes = DefaultRowGroupBytes
	}
	if opts.RowGroupRows <= 0 {
		opts.RowGroupRows = DefaultRowGroupRows
	}
	if opts.BloomBits == 0 {
		opts.BloomBits = DefaultBloomBits
	}
	if opts.Sort > SortTime {
		return Stats{}, fmt.Errorf("parquet: unknown sort %d", opts.Sort)
	}

	rows := make([]rec, len(events))
	var st Stats
	var f filler
	for i, line := range events {
		if err := f.fill(&rows[i], line); err != nil {
			return Stats{}, fmt.Errorf("parquet: event %d: %w", i, err)
		}
		t := rows[i].Time
		if i == 0 || t < st.TimeMin {
			st.TimeMin = t
		}
		if i == 0 || t > st.TimeMax {
			st.TimeMax = t
		}
	}
	// Put the rows in order once, so that each column's pass below reads
	// them sequentially rather than all over memory.
	sorted := make([]rec, len(rows))
	for j, i := range sortRows(rows, opts.Sort) {
		sorted[j] = rows[i]
	}
	rows = sorted

	cw := &countingWriter{w: w}
	pw := parquet.NewGenericWriter[any](cw, writerOptions(rows, opts)...)
	for g := range rowGroups(rows, opts) {
		if err := writeColumns(pw.ColumnWriters(), g); err != nil {
			return Stats{}, err
		}
		if err := pw.Flush(); err != nil {
			return Stats{}, fmt.Errorf("parquet: write row group: %w", err)
		}
		st.RowGroups++
	}
	if err := pw.Close(); err != nil {
		return Stats{}, fmt.Errorf("parquet: close file: %w", err)
	}
	st.Rows = len(rows)
	st.Bytes = cw.n
	return st, nil
}

// heavyFirst is the columns in the order they are handed to the encoding
// goroutines: the costliest (long or high-entropy values) first, so that
// none of them starts last and leaves the other cores idle.
var heavyFirst = func() []int {
	first := []string{"changes", "id", "request_id", "original", "meta", "target_id", "trace_id", "origin", "time", "received_at"}
	var order []int
	for _, name := range first {
		leaf, _ := Schema.Lookup(name)
		order = append(order, leaf.ColumnIndex)
	}
	for i := range columns {
		if !slices.Contains(order, i) {
			order = append(order, i)
		}
	}
	return order
}()

// writeColumns writes one row group's columns, spread over one goroutine
// per core. Each column has its own writer, and a column's bytes do not
// depend on which goroutine encoded it.
func writeColumns(cws []*parquet.ColumnWriter, rows []rec) error {
	next := make(chan int, len(heavyFirst))
	for _, c := range heavyFirst {
		next <- c
	}
	close(next)
	errs := make([]error, len(cws))
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(cws)) {
		wg.Go(func() {
			var vals []parquet.Value
			for c := range next {
				vals = columnValues(vals[:0], rows, c)
				_, err := cws[c].WriteRowValues(vals)
				if err == nil {
					// The last page too, which the row group's flush
					// would otherwise encode on one goroutine.
					err = cws[c].Flush()
				}
				if err != nil {
					errs[c] = fmt.Errorf("parquet: write column %s: %w", Schema.Fields()[c].Name(), err)
				}
			}
			clear(vals) // drop references to the input
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// rowGroups cuts rows into row groups by opts' limits.
func rowGroups(rows []rec, opts Options) iter.Seq[[]rec] {
	return func(yield func([]rec) bool) {
		start := 0
		var bytes int64
		for i := range rows {
			sz := rows[i].size()
			if n := i - start; n > 0 && (n >= opts.RowGroupRows || bytes+sz > opts.RowGroupBytes) {
				if !yield(rows[start:i]) {
					return
				}
				start, bytes = i, 0
			}
			bytes += sz
		}
		if start < len(rows) {
			yield(rows[start:])
		}
	}
}

// columnValues appends column c of rows to vals, with the
// definition levels of an optional column: 1 for a value, 0 for null.
// Byte array values alias the recs' strings; the column writer copies them.
func columnValues(vals []parquet.Value, rows []rec, c int) []parquet.Value {
	optional := Schema.Fields()[c].Optional()
	col := columns[c]
	for i := range rows {
		r := &rows[i]
		var v parquet.Value
		if col.num != nil {
			n := col.num(r)
			if optional && n == 0 {
				vals = append(vals, parquet.NullValue().Level(0, 0, c))
				continue
			}
			v = parquet.Int64Value(n)
		} else {
			s := col.str(r)
			if optional && s == "" {
				vals = append(vals, parquet.NullValue().Level(0, 0, c))
				continue
			}
			v = parquet.ByteArrayValue(unsafe.Slice(unsafe.StringData(s), len(s)))
		}
		def := 0
		if optional {
			def = 1
		}
		vals = append(vals, v.Level(0, def, c))
	}
	return vals
}

func writerOptions(rows []rec, opts Options) []parquet.WriterOption {
	var sorting []parquet.SortingColumn
	for _, c := range opts.Sort.Columns() {
		sorting = append(sorting, parquet.NullsFirst(parquet.Ascending(c)))
	}
	o := []parquet.WriterOption{
		Schema,
		parquet.Compression(zstdCodec),
		parquet.DictionaryMaxBytes(dictionaryMaxBytes),
		// Min/max per page live in the column index, which readers use;
		// repeating them in every page header costs 3 bytes an event
		// (whole changes values) for nothing.
		parquet.DataPageStatistics(false),
		parquet.SkipPageBounds("changes"), parquet.SkipPageBounds("meta"),
		parquet.SkipPageBounds("origin"), parquet.SkipPageBounds("original"),
		parquet.SortingWriterConfig(parquet.SortingColumns(sorting...)),
		parquet.CreatedBy("kansa", FormatVersion, ""),
		parquet.KeyValueMetadata("kansa.schema", event.Schema),
		parquet.KeyValueMetadata("kansa.parquet", FormatVersion),
		parquet.KeyValueMetadata("kansa.sort", opts.Sort.String()),
	}
	if opts.BloomBits > 0 && len(rows) > 0 {
		var filters []parquet.BloomFilterColumn
		for _, c := range bloomColumns {
			filters = append(filters, parquet.SplitBlockFilter(bloomBits(rows, c, opts.BloomBits), c))
		}
		o = append(o, parquet.BloomFilters(filters...))
	}
	return o
}

// bloomBits converts bits per distinct value into what parquet-go takes,
// bits per value, by how it sizes a filter: by the dictionary's length for a
// dictionary-encoded column (the distinct values), by the column chunk's
// value count otherwise, so that a column whose values repeat gets a
// proportionally smaller filter. A dictionary that falls back to plain
// encoding makes the filter larger than needed, never less selective.
func bloomBits(rows []rec, column string, perDistinct int) uint {
	if leaf, ok := Schema.Lookup(column); ok && leaf.Node.Encoding() != nil &&
		leaf.Node.Encoding().Encoding() == format.RLEDictionary {
		return uint(perDistinct)
	}
	get := map[string]func(*rec) string{
		"actor_id":   func(r *rec) string { return r.ActorID },
		"target_id":  func(r *rec) string { return r.TargetID },
		"request_id": func(r *rec) string { return r.RequestID },
	}[column]
	seen := make(map[string]struct{}, len(rows)/2)
	n := 0
	prev := ""
	for i := range rows {
		v := get(&rows[i])
		if v == "" {
			continue
		}
		n++
		if v != prev { // runs are common in sorted rows: a request's events
			seen[v] = struct{}{}
			prev = v
		}
	}
	if n == 0 {
		return 1
	}
	bits := (perDistinct*len(seen) + n - 1) / n // ceil
	return uint(max(1, bits))
}

// filler decodes events into recs, reusing its storage.
type filler struct {
	dec     event.Decoder
	offsets map[int]string // formatted time offsets
}

// fill decodes one stored event into r. Strings alias line.
func (f *filler) fill(r *rec, line []byte) error {
	e, err := f.dec.Decode(line)
	if err != nil {
		return err
	}
	*r = rec{
		ID:        e.ID,
		Time:      e.Time.UnixMicro(),
		Action:    e.Action,
		Outcome:   e.Outcome,
		Tenant:    e.Tenant,
		Source:    e.Source,
		RequestID: e.Context.RequestID,
		IP:        e.Context.IP,
		UserAgent: e.Context.UserAgent,
		Endpoint:  e.Context.Endpoint,
		Caller:    e.Context.Caller,
		TraceID:   e.Context.TraceID,
		Host:      e.Context.Host,
		Changes:   aliasString(e.Changes),
		Meta:      aliasString(e.Meta),
		Origin:    aliasString(e.Origin),
		Original:  aliasString(e.Original),
	}
	if _, off := e.Time.Zone(); off != 0 {
		s, ok := f.offsets[off]
		if !ok {
			s = formatOffset(off)
			if f.offsets == nil {
				f.offsets = make(map[int]string)
			}
			f.offsets[off] = s
		}
		r.TimeOffset = s
	}
	if a := e.Actor; a != nil {
		r.ActorType, r.ActorID, r.ActorName = a.Type, a.ID, a.Name
	}
	if t := e.Target; t != nil {
		r.TargetType, r.TargetID, r.TargetSchema, r.TargetTable = t.Type, t.ID, t.Schema, t.Table
	}
	if s := e.Seq; s != nil {
		if s.N > math.MaxInt64 {
			return fmt.Errorf("seq.n %d does not fit the int64 column seq_n", s.N)
		}
		r.SeqStream, r.SeqN = s.Stream, int64(s.N)
	}
	if !e.ReceivedAt.IsZero() {
		r.ReceivedAt = e.ReceivedAt.UnixMicro()
	}
	return nil
}

// aliasString returns b as a string without copying. Decode's raw fields
// alias the line, and Original is a fresh copy, so nothing writes to b while
// the row is in use.
func aliasString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// formatOffset formats a UTC offset in seconds as ±HH:MM, as the stored
// encoding's time_offset does.
func formatOffset(off int) string {
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	h, m := off/3600, off%3600/60
	return string([]byte{sign, byte('0' + h/10), byte('0' + h%10), ':', byte('0' + m/10), byte('0' + m%10)})
}

// sortRows returns the rows' indexes in s's order, ties broken by id and
// then by input order, so the result does not depend on the sort algorithm.
// The sort compares integers where it can: the (tenant, type) pairs, which
// are few, are ranked once, and the first 8 bytes of each actor or target
// id are compared as one number; whole ids are compared only when those
// bytes are equal.
func sortRows(rows []rec, s Sort) []int32 {
	type item struct {
		group uint32 // rank of (tenant, type)
		pre   uint64 // the id's first 8 bytes, big-endian, zero-padded
		time  int64
		i     int32
	}
	id := func(r *rec) string { return r.ActorID }
	typ := func(r *rec) string { return r.ActorType }
	if s == SortTarget {
		id = func(r *rec) string { return r.TargetID }
		typ = func(r *rec) string { return r.TargetType }
	}
	items := make([]item, len(rows))
	if s != SortTime {
		seen := make(map[[2]string]uint32)
		var groups [][2]string
		for i := range rows {
			r := &rows[i]
			k := [2]string{r.Tenant, typ(r)}
			g, ok := seen[k]
			if !ok {
				g = uint32(len(groups))
				seen[k] = g
				groups = append(groups, k)
			}
			var b [8]byte
			copy(b[:], id(r))
			items[i].group, items[i].pre = g, binary.BigEndian.Uint64(b[:])
		}
		byKey := make([]uint32, len(groups))
		for g := range byKey {
			byKey[g] = uint32(g)
		}
		slices.SortFunc(byKey, func(x, y uint32) int {
			a, b := groups[x], groups[y]
			return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
		})
		rank := make([]uint32, len(groups))
		for r, g := range byKey {
			rank[g] = uint32(r)
		}
		for i := range items {
			items[i].group = rank[items[i].group]
		}
	}
	for i := range rows {
		items[i].time, items[i].i = rows[i].Time, int32(i)
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Or(cmp.Compare(a.group, b.group), cmp.Compare(a.pre, b.pre)); c != 0 {
			return c
		}
		ra, rb := &rows[a.i], &rows[b.i]
		if s != SortTime {
			if c := strings.Compare(id(ra), id(rb)); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.time, b.time), strings.Compare(ra.ID, rb.ID), cmp.Compare(a.i, b.i))
	})
	order := make([]int32, len(rows))
	for j, it := range items {
		order[j] = it.i
	}
	return order
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Column describes one column of the files, for DDL and docs.
type Column struct {
	Name string
	// Type is "string" (BYTE_ARRAY STRING), "int64" (INT64) or
	// "timestamp" (INT64 TIMESTAMP(MICROS, isAdjustedToUTC=true)).
	Type     string
	Optional bool
}

// Columns lists the files' columns in order.
func Columns() []Column {
	var cols []Column
	for _, f := range Schema.Fields() {
		c := Column{Name: f.Name(), Type: "string", Optional: f.Optional()}
		if f.Type().Kind() == parquet.Int64 {
			c.Type = "int64"
			if lt := f.Type().LogicalType(); lt != nil {
				if _, ok := lt.Value.(*format.TimestampType); ok {
					c.Type = "timestamp"
				}
			}
		}
		cols = append(cols, c)
	}
	return cols
}
