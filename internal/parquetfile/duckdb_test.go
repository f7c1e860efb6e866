//go:build cgo

// DuckDB reads the files as an independent reader: its Parquet reader
// shares no code with parquet-go. cgo only, so that CGO_ENABLED=0 builds
// and vets of the package still work.

package parquetfile

import (
	"cmp"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/kansa-audit/kansa/internal/event"
)

func openDuckDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	// One connection: settings such as the time zone belong to it.
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("SET TimeZone = 'UTC'"); err != nil {
		t.Fatal(err)
	}
	return db
}

// archived is one event as the test expects to read it back.
type archived struct {
	e    *event.Event
	line []byte
	key  string // its partition: tenant=…/year=…/month=…/day=…
}

// writeHive writes each batch as the archive would: one file per (tenant,
// UTC day) partition of the batch, tenant=T/year=YYYY/month=MM/day=DD/
// kansa-w1-<batch>.parquet. It returns the events by id.
func writeHive(t testing.TB, dir string, batches [][][]byte, opts Options) map[string]*archived {
	t.Helper()
	all := map[string]*archived{}
	for bi, batch := range batches {
		parts := map[string][][]byte{}
		for _, line := range batch {
			e, err := event.Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			key := partitionKey(e)
			parts[key] = append(parts[key], line)
			if all[e.ID] != nil {
				t.Fatalf("duplicate id %s", e.ID)
			}
			all[e.ID] = &archived{e: e, line: line, key: key}
		}
		for key, lines := range parts {
			p := filepath.Join(dir, key, fmt.Sprintf("kansa-w1-%04d.parquet", bi))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Write(f, lines, opts); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return all
}

// hiveScan reads the files as the view of `kansa ddl duckdb` does.
func hiveScan(glob string) string {
	return fmt.Sprintf("read_parquet('%s', hive_partitioning = true, hive_types = {'day': INTEGER, 'month': INTEGER, 'year': INTEGER})", glob)
}

func partitionKey(e *event.Event) string {
	u := e.Time.UTC()
	return fmt.Sprintf("tenant=%s/year=%04d/month=%02d/day=%02d", e.Tenant, u.Year(), u.Month(), u.Day())
}

func TestDuckDBReadsTheArchive(t *testing.T) {
	dir := t.TempDir()
	m := newMix(11)
	// Events spread over days: two batches from one stream, one a day later.
	b1 := m.batch(3 << 20)
	for range 40_000 {
		m.next()
	}
	b2 := m.batch(3 << 20)
	all := writeHive(t, dir, [][][]byte{b1, b2}, Options{})
	db := openDuckDB(t)
	glob := filepath.ToSlash(dir) + "/**/*.parquet"
	from := hiveScan(glob)

	var files int
	parts := map[string]int{}
	for _, a := range all {
		parts[a.key]++
	}
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if strings.HasSuffix(p, ".parquet") {
			files++
		}
		return err
	})
	t.Logf("%d events in %d files, %d partitions", len(all), files, len(parts))
	if len(parts) < 8 {
		t.Fatalf("only %d partitions; the test wants several tenants and days", len(parts))
	}

	t.Run("count", func(t *testing.T) {
		var n int
		if err := db.QueryRow("SELECT count(*) FROM " + from).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(all) {
			t.Fatalf("DuckDB counts %d rows, wrote %d", n, len(all))
		}
	})

	t.Run("types", func(t *testing.T) {
		rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM " + from + ")")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]string{}
		for rows.Next() {
			var n, typ string
			if err := rows.Scan(&n, &typ); err != nil {
				t.Fatal(err)
			}
			got[n] = typ
		}
		for col, want := range map[string]string{"time": "TIMESTAMP WITH TIME ZONE", "received_at": "TIMESTAMP WITH TIME ZONE",
			"seq_n": "BIGINT", "id": "VARCHAR", "changes": "VARCHAR", "tenant": "VARCHAR", "year": "INTEGER", "day": "INTEGER"} {
			if got[col] != want {
				t.Errorf("%s: DuckDB type %q, want %q", col, got[col], want)
			}
		}
		if len(got) != 28+3 { // the columns and year, month, day from the path
			t.Errorf("%d columns: %v", len(got), got)
		}
	})

	t.Run("every value", func(t *testing.T) {
		// Every column of every row, against the source event.
		rows, err := db.Query(`SELECT id, epoch_us(time), time, time_offset, action, outcome, actor_type, actor_id, actor_name,
			target_type, target_id, target_schema, target_table, tenant, source, request_id, ip, user_agent, endpoint,
			caller, trace_id, host, seq_stream, seq_n, changes, meta, origin, epoch_us(received_at), original,
			year, month, day FROM ` + from)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		seen := 0
		for rows.Next() {
			var id string
			var us int64
			var tm time.Time
			var s [25]sql.NullString
			var seqN, recv sql.NullInt64
			var year, month, day int
			err := rows.Scan(&id, &us, &tm, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7], &s[8], &s[9], &s[10], &s[11],
				&s[12], &s[13], &s[14], &s[15], &s[16], &s[17], &s[18], &s[19], &seqN, &s[20], &s[21], &s[22], &recv, &s[23],
				&year, &month, &day)
			if err != nil {
				t.Fatal(err)
			}
			a := all[id]
			if a == nil {
				t.Fatalf("DuckDB returned unknown id %q", id)
			}
			seen++
			e := a.e
			str := func(v string) sql.NullString { return sql.NullString{String: v, Valid: v != ""} }
			var want [25]sql.NullString
			if _, off := e.Time.Zone(); off != 0 {
				want[0] = str(e.Time.Format("-07:00"))
			}
			want[1], want[2] = str(e.Action), str(e.Outcome)
			if e.Actor != nil {
				want[3], want[4], want[5] = str(e.Actor.Type), str(e.Actor.ID), str(e.Actor.Name)
			}
			if e.Target != nil {
				want[6], want[7], want[8], want[9] = str(e.Target.Type), str(e.Target.ID), str(e.Target.Schema), str(e.Target.Table)
			}
			c := e.Context
			want[10], want[11] = str(e.Tenant), str(e.Source)
			want[12], want[13], want[14], want[15], want[16], want[17], want[18] = str(c.RequestID), str(c.IP), str(c.UserAgent), str(c.Endpoint), str(c.Caller), str(c.TraceID), str(c.Host)
			var wantN sql.NullInt64
			if e.Seq != nil {
				want[19], wantN = str(e.Seq.Stream), sql.NullInt64{Int64: int64(e.Seq.N), Valid: true}
			}
			want[20], want[21], want[22], want[23] = str(string(e.Changes)), str(string(e.Meta)), str(string(e.Origin)), str(string(e.Original))
			if s != want {
				for i := range s {
					if s[i] != want[i] {
						t.Errorf("event %s, string column #%d: DuckDB %+v, want %+v\n%s", id, i, s[i], want[i], a.line)
					}
				}
				t.FailNow()
			}
			if us != e.Time.UnixMicro() || !tm.Equal(e.Time) {
				t.Fatalf("event %s: time %d (%v), want %d (%v)", id, us, tm, e.Time.UnixMicro(), e.Time)
			}
			if seqN != wantN || recv != (sql.NullInt64{Int64: e.ReceivedAt.UnixMicro(), Valid: true}) {
				t.Fatalf("event %s: seq_n %v received_at %v", id, seqN, recv)
			}
			if got := fmt.Sprintf("tenant=%s/year=%04d/month=%02d/day=%02d", s[10].String, year, month, day); got != a.key {
				t.Fatalf("event %s: partition %s, written to %s", id, got, a.key)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if seen != len(all) {
			t.Fatalf("compared %d rows, want %d", seen, len(all))
		}
	})

	t.Run("changes as JSON", func(t *testing.T) {
		// DuckDB's JSON functions see the same document, and integers
		// above 2^53 come out digit for digit.
		checked := 0
		for id, a := range all {
			if !hasBigInt(a.e.Changes) || checked >= 50 {
				continue
			}
			col, val := bigIntField(t, a.e.Changes)
			var same bool
			var got string
			q := fmt.Sprintf(`SELECT json(changes) = json(?), changes->>'$."%s"' FROM %s WHERE id = ?`, col, from)
			if err := db.QueryRow(q, string(a.e.Changes), id).Scan(&same, &got); err != nil {
				t.Fatal(err)
			}
			if !same || !strings.Contains(got, val) {
				t.Fatalf("event %s: changes %s; DuckDB: equal %v, %s = %s, want %s in it", id, a.e.Changes, same, col, got, val)
			}
			checked++
		}
		if checked == 0 {
			t.Fatal("no event with a big integer in changes")
		}
	})

	t.Run("lookup by target and actor", func(t *testing.T) {
		target, actor := busiest(all, func(e *event.Event) string {
			if e.Target == nil || e.Target.ID == "" {
				return ""
			}
			return e.Target.Type + "\x00" + e.Target.ID
		}), busiest(all, func(e *event.Event) string {
			if e.Actor == nil {
				return ""
			}
			return e.Actor.Type + "\x00" + e.Actor.ID
		})
		for _, tc := range []struct {
			col  string
			key  string
			want []string
		}{
			{"target", target.key, target.ids},
			{"actor", actor.key, actor.ids},
		} {
			typ, id, _ := strings.Cut(tc.key, "\x00")
			q := fmt.Sprintf("SELECT id FROM %s WHERE %s_type = ? AND %s_id = ? ORDER BY time, id", from, tc.col, tc.col)
			rows, err := db.Query(q, typ, id)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for rows.Next() {
				var s string
				rows.Scan(&s)
				got = append(got, s)
			}
			rows.Close()
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s %s:%s: DuckDB finds %v, want %v", tc.col, typ, id, got, tc.want)
			}
			t.Logf("%s %s:%s: %d events", tc.col, typ, id, len(got))
		}
	})

	t.Run("bloom filters", func(t *testing.T) {
		// DuckDB probes the bloom filters itself: a value in the file is
		// never excluded, values not in it almost always are.
		var file string
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if file == "" && strings.HasSuffix(p, ".parquet") {
				file = p
			}
			return err
		})
		rows := readRowsFile(t, file)
		for _, col := range bloomColumns {
			var present string
			for _, r := range rows {
				if v := map[string]string{"actor_id": r.ActorID, "target_id": r.TargetID, "request_id": r.RequestID}[col]; v != "" {
					present = v
					break
				}
			}
			var excluded bool
			if err := db.QueryRow("SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, ?, ?)", file, col, present).Scan(&excluded); err != nil {
				t.Fatal(err)
			}
			if excluded {
				t.Errorf("%s: DuckDB's bloom probe excludes %q, which the file has", col, present)
			}
			var absentExcluded int
			for i := range 200 {
				var ex bool
				if err := db.QueryRow("SELECT bloom_filter_excludes FROM parquet_bloom_probe(?, ?, ?)", file, col, fmt.Sprintf("no-such-%d", i)).Scan(&ex); err != nil {
					t.Fatal(err)
				}
				if ex {
					absentExcluded++
				}
			}
			if absentExcluded < 190 {
				t.Errorf("%s: the bloom filter excludes only %d/200 absent values", col, absentExcluded)
			}
		}
	})

	// Last, as it breaks the data set: a query filtered by partition
	// columns opens only the matching files, so a corrupt file elsewhere
	// does not disturb it; the same query without the filter fails, so the
	// corruption is there to notice.
	t.Run("partition pruning", func(t *testing.T) {
		keys := make([]string, 0, len(parts))
		for k := range parts {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		keep := keys[0] // the busiest partition stays readable
		for _, k := range keys {
			if parts[k] > parts[keep] {
				keep = k
			}
		}
		// Not the first partition: DuckDB takes the schema from the first
		// file the glob lists, whatever the filter.
		broken := keys[len(keys)-1]
		if broken == keep {
			broken = keys[len(keys)-2]
		}
		var brokenFiles int
		filepath.WalkDir(filepath.Join(dir, broken), func(p string, d os.DirEntry, err error) error {
			if strings.HasSuffix(p, ".parquet") {
				brokenFiles++
				if err := os.WriteFile(p, []byte("this is not a parquet file, and DuckDB must not open it"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			return err
		})
		var tenant string
		var y, mo, d int
		if _, err := fmt.Sscanf(strings.NewReplacer("/", " ", "=", " ").Replace(keep), "tenant %s year %d month %d day %d", &tenant, &y, &mo, &d); err != nil {
			t.Fatal(err)
		}
		var n int
		q := "SELECT count(*) FROM " + from + " WHERE tenant = ? AND year = ? AND month = ? AND day = ?"
		if err := db.QueryRow(q, tenant, y, mo, d).Scan(&n); err != nil {
			t.Fatalf("query of %s fails with a corrupt file in %s: %v", keep, broken, err)
		}
		if n != parts[keep] {
			t.Fatalf("%s: %d rows, want %d", keep, n, parts[keep])
		}
		var plan string
		if err := db.QueryRow("EXPLAIN ANALYZE "+q, tenant, y, mo, d).Scan(new(string), &plan); err != nil {
			t.Fatal(err)
		}
		// And DuckDB's own profile says it read only that partition's files.
		keepFiles, _ := filepath.Glob(filepath.Join(dir, keep, "*.parquet"))
		if want := fmt.Sprintf("Total Files Read: %d ", len(keepFiles)); !strings.Contains(plan, want) {
			t.Errorf("EXPLAIN ANALYZE lacks %q:\n%s", want, plan)
		}
		t.Logf("%s: %d rows from %d files, with %d corrupt files in %s", keep, n, len(keepFiles), brokenFiles, broken)
		if err := db.QueryRow("SELECT count(*) FROM " + from).Scan(&n); err == nil {
			t.Fatalf("the corrupt files in %s went unnoticed by an unfiltered query", broken)
		}
	})
}

type hits struct {
	key string
	ids []string // by time, then id
}

// busiest returns the key (from keyOf) with the most events, and their ids.
func busiest(all map[string]*archived, keyOf func(*event.Event) string) hits {
	by := map[string][]*event.Event{}
	for _, a := range all {
		if k := keyOf(a.e); k != "" {
			by[k] = append(by[k], a.e)
		}
	}
	var best string
	for k, es := range by {
		if len(es) > len(by[best]) || len(es) == len(by[best]) && k < best {
			best = k
		}
	}
	es := by[best]
	slices.SortFunc(es, func(a, b *event.Event) int {
		return cmp.Or(cmp.Compare(a.Time.UnixMicro(), b.Time.UnixMicro()), strings.Compare(a.ID, b.ID))
	})
	h := hits{key: best}
	for _, e := range es {
		h.ids = append(h.ids, e.ID)
	}
	return h
}

// bigIntField returns a top-level column of changes whose value holds an
// integer above 2^53, and that integer's digits.
func bigIntField(t testing.TB, changes []byte) (col, digits string) {
	t.Helper()
	s := string(changes)
	for _, part := range strings.Split(strings.Trim(s, "{}"), `,"`) {
		k, v, ok := strings.Cut(part, `":`)
		if !ok || !hasBigInt([]byte(v)) {
			continue
		}
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r < '0' || r > '9' }) {
			if len(f) >= 16 {
				return strings.TrimPrefix(k, `"`), f
			}
		}
	}
	t.Fatalf("no big integer in %s", changes)
	return "", ""
}

func readRowsFile(t testing.TB, path string) []rec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return readRows(t, data)
}

// BenchmarkLookup measures what the sort order buys a query engine: DuckDB
// looks up one record's history (tenant, target_type, target_id) or one
// actor's (tenant, actor_type, actor_id) over an archive of
// KANSA_BENCH_BATCHES (default 24) 10 MB batches of the synthetic mix,
// written in each sort order, in two layouts: as the archive writes them
// (one file per batch and partition), compacted (one file per partition,
// default row groups) and compacted into row groups of 16k rows (as many
// row groups per file as a month compacted with the default 1M rows
// would have, so that row group statistics and bloom filters can skip
// parts of a file). It reports bytes per event of each
// archive beside the time per lookup.
func BenchmarkLookup(b *testing.B) {
	n := 24
	if s := os.Getenv("KANSA_BENCH_BATCHES"); s != "" {
		fmt.Sscan(s, &n)
	}
	m := newMix(42)
	var bs [][][]byte
	events := 0
	for range n {
		bt := m.batch(benchBatchBytes)
		bs = append(bs, bt)
		events += len(bt)
	}
	// Keys to look up: every 997th event's target and actor.
	var targets, actors [][3]string
	for i, bt := range bs {
		for j := i; j < len(bt); j += 997 {
			e, err := event.Decode(bt[j])
			if err != nil {
				b.Fatal(err)
			}
			if e.Target != nil && e.Target.ID != "" {
				targets = append(targets, [3]string{e.Tenant, e.Target.Type, e.Target.ID})
			}
			if e.Actor != nil {
				actors = append(actors, [3]string{e.Tenant, e.Actor.Type, e.Actor.ID})
			}
		}
	}
	root := b.TempDir()
	db := openDuckDB(b)
	layouts := []string{"batch", "compacted", "compacted-rg16k"}
	type dataset struct {
		from  string
		size  int64
		files int
	}
	sets := map[string]dataset{}
	// Every archive is written before any is queried, and the sort
	// orders take turns, so that no order pays for the writing's garbage.
	for _, layout := range layouts {
		for _, s := range []Sort{SortActor, SortTarget, SortTime} {
			dir := filepath.Join(root, layout, sortName(s))
			if layout == "batch" {
				writeHive(b, dir, bs, Options{Sort: s})
			} else {
				var all [][]byte
				for _, bt := range bs {
					all = append(all, bt...)
				}
				opts := Options{Sort: s}
				if layout == "compacted-rg16k" {
					// As many row groups per file as a month compacted
					// with the default 1M rows would have.
					opts.RowGroupRows = 16 << 10
				}
				writeHive(b, dir, [][][]byte{all}, opts)
			}
			d := dataset{from: hiveScan(filepath.ToSlash(dir) + "/**/*.parquet")}
			filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
				if strings.HasSuffix(p, ".parquet") {
					fi, _ := de.Info()
					d.size += fi.Size()
					d.files++
				}
				return err
			})
			sets[layout+"/"+sortName(s)] = d
		}
	}
	for _, layout := range layouts {
		for _, by := range []string{"target", "actor"} {
			keys := map[string][][3]string{"target": targets, "actor": actors}[by]
			for _, s := range []Sort{SortActor, SortTarget, SortTime} {
				d := sets[layout+"/"+sortName(s)]
				runtime.GC()
				b.Run(fmt.Sprintf("layout=%s/by=%s/sort=%s", layout, by, sortName(s)), func(b *testing.B) {
					i, rows := 0, 0
					for b.Loop() {
						k := keys[i%len(keys)]
						i++
						// The history as a timeline shows it: every column, by time.
						q := fmt.Sprintf("SELECT * FROM %s WHERE tenant = '%s' AND %s_type = '%s' AND %s_id = '%s' ORDER BY time",
							d.from, sqlQuote(k[0]), by, sqlQuote(k[1]), by, sqlQuote(k[2]))
						n, err := drain(db, q)
						if err != nil {
							b.Fatal(err)
						}
						if n == 0 {
							b.Fatalf("no rows for %v", k)
						}
						rows += n
					}
					b.ReportMetric(float64(d.size)/float64(events), "B/event")
					b.ReportMetric(float64(d.files), "files")
					b.ReportMetric(float64(rows)/float64(i), "rows/lookup")
				})
			}
		}
	}
}

// drain runs q and reads every value of every row, returning the row count.
func drain(db *sql.DB, q string) (int, error) {
	rs, err := db.Query(q)
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	cols, err := rs.Columns()
	if err != nil {
		return 0, err
	}
	vals := make([]any, len(cols))
	for i := range vals {
		vals[i] = new(any)
	}
	n := 0
	for rs.Next() {
		if err := rs.Scan(vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rs.Err()
}

func sqlQuote(s string) string { return strings.ReplaceAll(s, "'", "''") }
