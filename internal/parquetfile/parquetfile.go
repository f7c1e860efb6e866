package parquetfile

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
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

// row is a rec as a Parquet row; the field order is the column order
// (SCHEMA.md). Optional columns are pointers, nil for null: parquet-go
// v0.32's handling of zero values in non-pointer optional fields writes
// some "" as values and others as nulls (and upstream is changing it to
// "never null", parquet-go#480), so nullness is made explicit.
type row struct {
	ID           string  `parquet:"id"`
	Time         int64   `parquet:"time,timestamp(microsecond:utc),delta"`
	TimeOffset   *string `parquet:"time_offset,optional,dict"`
	Action       string  `parquet:"action,dict"`
	Outcome      string  `parquet:"outcome,dict"`
	ActorType    *string `parquet:"actor_type,optional,dict"`
	ActorID      *string `parquet:"actor_id,optional,dict"`
	ActorName    *string `parquet:"actor_name,optional,dict"`
	TargetType   *string `parquet:"target_type,optional,dict"`
	TargetID     *string `parquet:"target_id,optional"`
	TargetSchema *string `parquet:"target_schema,optional,dict"`
	TargetTable  *string `parquet:"target_table,optional,dict"`
	Tenant       string  `parquet:"tenant,dict"`
	Source       string  `parquet:"source,dict"`
	RequestID    *string `parquet:"request_id,optional"`
	IP           *string `parquet:"ip,optional,dict"`
	UserAgent    *string `parquet:"user_agent,optional,dict"`
	Endpoint     *string `parquet:"endpoint,optional,dict"`
	Caller       *string `parquet:"caller,optional,dict"`
	TraceID      *string `parquet:"trace_id,optional"`
	Host         *string `parquet:"host,optional,dict"`
	SeqStream    *string `parquet:"seq_stream,optional,dict"`
	SeqN         *int64  `parquet:"seq_n,optional"`
	Changes      *string `parquet:"changes,optional"`
	Meta         *string `parquet:"meta,optional"`
	Origin       *string `parquet:"origin,optional"`
	ReceivedAt   *int64  `parquet:"received_at,optional,timestamp(microsecond:utc)"`
	Original     *string `parquet:"original,optional"`
}

// row points r's present fields into a row; it allocates nothing.
func (r *rec) row() row {
	return row{
		ID:           r.ID,
		Time:         r.Time,
		TimeOffset:   optString(&r.TimeOffset),
		Action:       r.Action,
		Outcome:      r.Outcome,
		ActorType:    optString(&r.ActorType),
		ActorID:      optString(&r.ActorID),
		ActorName:    optString(&r.ActorName),
		TargetType:   optString(&r.TargetType),
		TargetID:     optString(&r.TargetID),
		TargetSchema: optString(&r.TargetSchema),
		TargetTable:  optString(&r.TargetTable),
		Tenant:       r.Tenant,
		Source:       r.Source,
		RequestID:    optString(&r.RequestID),
		IP:           optString(&r.IP),
		UserAgent:    optString(&r.UserAgent),
		Endpoint:     optString(&r.Endpoint),
		Caller:       optString(&r.Caller),
		TraceID:      optString(&r.TraceID),
		Host:         optString(&r.Host),
		SeqStream:    optString(&r.SeqStream),
		SeqN:         optInt(&r.SeqN),
		Changes:      optString(&r.Changes),
		Meta:         optString(&r.Meta),
		Origin:       optString(&r.Origin),
		ReceivedAt:   optInt(&r.ReceivedAt),
		Original:     optString(&r.Original),
	}
}

func optString(s *string) *string {
	if *s == "" {
		return nil
	}
	return s
}

func optInt(n *int64) *int64 {
	if *n == 0 {
		return nil
	}
	return n
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
	for i, line := range events {
		if err := fill(&rows[i], line); err != nil {
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
	order := sortRows(rows, opts.Sort)

	cw := &countingWriter{w: w}
	pw := parquet.NewGenericWriter[row](cw, writerOptions(rows, order, opts)...)
	const chunk = 256 // rows copied into sorted order at a time
	buf := make([]row, 0, chunk)
	var groupBytes int64
	groupRows := 0
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		_, err := pw.Write(buf)
		clear(buf) // drop references to the input
		buf = buf[:0]
		return err
	}
	for _, i := range order {
		r := &rows[i]
		sz := r.size()
		if groupRows > 0 && (groupRows >= opts.RowGroupRows || groupBytes+sz > opts.RowGroupBytes) {
			if err := flush(); err != nil {
				return Stats{}, fmt.Errorf("parquet: write rows: %w", err)
			}
			if err := pw.Flush(); err != nil {
				return Stats{}, fmt.Errorf("parquet: write row group: %w", err)
			}
			st.RowGroups++
			groupBytes, groupRows = 0, 0
		}
		buf = append(buf, r.row())
		groupBytes += sz
		groupRows++
		if len(buf) == chunk {
			if err := flush(); err != nil {
				return Stats{}, fmt.Errorf("parquet: write rows: %w", err)
			}
		}
	}
	if err := flush(); err != nil {
		return Stats{}, fmt.Errorf("parquet: write rows: %w", err)
	}
	if groupRows > 0 {
		st.RowGroups++
	}
	if err := pw.Close(); err != nil {
		return Stats{}, fmt.Errorf("parquet: close file: %w", err)
	}
	st.Rows = len(rows)
	st.Bytes = cw.n
	return st, nil
}

func writerOptions(rows []rec, order []int32, opts Options) []parquet.WriterOption {
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
		parquet.SortingWriterConfig(parquet.SortingColumns(sorting...)),
		parquet.CreatedBy("kansa", FormatVersion, ""),
		parquet.KeyValueMetadata("kansa.schema", event.Schema),
		parquet.KeyValueMetadata("kansa.parquet", FormatVersion),
		parquet.KeyValueMetadata("kansa.sort", opts.Sort.String()),
	}
	if opts.BloomBits > 0 && len(rows) > 0 {
		var filters []parquet.BloomFilterColumn
		for _, c := range bloomColumns {
			filters = append(filters, parquet.SplitBlockFilter(bloomBits(rows, order, c, opts.BloomBits), c))
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
func bloomBits(rows []rec, order []int32, column string, perDistinct int) uint {
	if leaf, ok := Schema.Lookup(column); ok && leaf.Node.Encoding() != nil &&
		leaf.Node.Encoding().Encoding() == format.RLEDictionary {
		return uint(perDistinct)
	}
	get := map[string]func(*rec) string{
		"actor_id":   func(r *rec) string { return r.ActorID },
		"target_id":  func(r *rec) string { return r.TargetID },
		"request_id": func(r *rec) string { return r.RequestID },
	}[column]
	seen := make(map[string]struct{}, len(rows))
	n := 0
	for _, i := range order {
		v := get(&rows[i])
		if v == "" {
			continue
		}
		n++
		seen[v] = struct{}{}
	}
	if n == 0 {
		return 1
	}
	bits := (perDistinct*len(seen) + n - 1) / n // ceil
	return uint(max(1, bits))
}

// fill decodes one stored event into r. Strings alias line.
func fill(r *rec, line []byte) error {
	e, err := event.DecodeAliased(line)
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
		r.TimeOffset = formatOffset(off)
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
func sortRows(rows []rec, s Sort) []int32 {
	order := make([]int32, len(rows))
	for i := range order {
		order[i] = int32(i)
	}
	var key func(a, b *rec) int
	switch s {
	case SortTarget:
		key = func(a, b *rec) int {
			return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.TargetType, b.TargetType),
				strings.Compare(a.TargetID, b.TargetID), cmp.Compare(a.Time, b.Time))
		}
	case SortTime:
		key = func(a, b *rec) int { return cmp.Compare(a.Time, b.Time) }
	default:
		key = func(a, b *rec) int {
			return cmp.Or(strings.Compare(a.Tenant, b.Tenant), strings.Compare(a.ActorType, b.ActorType),
				strings.Compare(a.ActorID, b.ActorID), cmp.Compare(a.Time, b.Time))
		}
	}
	slices.SortFunc(order, func(i, j int32) int {
		a, b := &rows[i], &rows[j]
		return cmp.Or(key(a, b), strings.Compare(a.ID, b.ID), cmp.Compare(i, j))
	})
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
