// Command pgaudited is a PostgreSQL baseline for kansa's search benchmark:
// it loads the first -n events of internal/synth's workload (Seed 1, the
// time spread of -workload-events events) into the table the Ruby "audited"
// gem creates (audits, with the gem's primary key and five indexes, all
// built after the load), and times the lookups kansa's index is measured
// on: a record's history, an actor's history (newest first), a request's
// events, and a count by action per day.
//
// Against a throwaway server from scripts/pg.sh (the settings and results are in
// docs/benchmarks.md):
//
//	eval "$(bash scripts/pg.sh start /work/pgbench)"
//	go build -o /tmp/pgaudited ./bench/pgaudited
//	/tmp/pgaudited -url "$KANSA_TEST_PG" -n 20000000   # load, index, sizes, warm lookups, EXPLAIN
//	/tmp/pgaudited -load=false                         # the same without reloading
//	# for each kind: pg_ctl stop; sync; echo 3 >/proc/sys/vm/drop_caches; pg_ctl start; then
//	/tmp/pgaudited -load=false -cold actor             # 100 cold lookups (also target, request)
//	bash scripts/pg.sh stop /work/pgbench
//
// Warm lookups: each key set (-lookups keys, seed 2) is run once untimed,
// then timed. Cold lookups (-cold target,actor,request): -cold-lookups keys
// drawn with another seed (3), run once, timed, with no warm-up. Every
// lookup is a prepared statement on one connection, timed in the client
// until all its rows are read and scanned. -custom-plans sets
// plan_cache_mode = force_custom_plan for the session.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/synth"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "pgaudited:", err)
		os.Exit(1)
	}
}

type options struct {
	url            string
	n              uint64
	workloadEvents uint64
	lookups        int
	coldLookups    int
	load           bool
	cold           string
	explain        bool
	customPlans    bool
}

func run(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("pgaudited", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.url, "url", os.Getenv("KANSA_TEST_PG"), "PostgreSQL connection URL (default $KANSA_TEST_PG)")
	fs.Uint64Var(&o.n, "n", 20_000_000, "events to load: the first n of the workload")
	fs.Uint64Var(&o.workloadEvents, "workload-events", 100_000_000, "events of the whole synthetic workload (sets the time spread and the key distributions)")
	fs.IntVar(&o.lookups, "lookups", 1000, "warm lookups of each kind")
	fs.IntVar(&o.coldLookups, "cold-lookups", 100, "cold lookups of each kind (with -cold)")
	fs.BoolVar(&o.load, "load", true, "drop and reload the audits table, build its indexes, VACUUM ANALYZE")
	fs.StringVar(&o.cold, "cold", "", "run only cold lookups of these kinds (comma-separated: target,actor,request), no warm-up")
	fs.BoolVar(&o.customPlans, "custom-plans", false, "SET plan_cache_mode = force_custom_plan (plan each execution with its values)")
	fs.BoolVar(&o.explain, "explain", true, "print EXPLAIN (ANALYZE, BUFFERS) of the busiest actor's history")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.url == "" {
		return errors.New("no -url and no $KANSA_TEST_PG")
	}
	if o.n > o.workloadEvents {
		return fmt.Errorf("-n %d is more than -workload-events %d", o.n, o.workloadEvents)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, o.url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var version string
	if err := conn.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil {
		return err
	}
	fmt.Fprintf(out, "# %s\n# server: %s\n# workload-events=%d, started %s\n", strings.Join(os.Args, " "), version, o.workloadEvents,
		time.Now().UTC().Format(time.RFC3339))
	if o.customPlans {
		if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_custom_plan`); err != nil {
			return err
		}
		fmt.Fprintf(out, "# plan_cache_mode = force_custom_plan\n")
	}
	g := synth.New(synth.Config{Seed: 1, Events: o.workloadEvents})
	if o.cold != "" {
		return coldLookups(ctx, out, conn, g, o)
	}
	if o.load {
		if err := load(ctx, out, conn, g, o.n); err != nil {
			return err
		}
	}
	if err := sizes(ctx, out, conn); err != nil {
		return err
	}
	return warmLookups(ctx, out, conn, g, o)
}

const createTable = `CREATE TABLE audits (
	id bigserial,
	auditable_id bigint,
	auditable_type varchar,
	associated_id varchar,
	associated_type varchar,
	user_id varchar,
	user_type varchar,
	username varchar,
	action varchar,
	audited_changes jsonb,
	version integer DEFAULT 0,
	comment varchar,
	remote_address varchar,
	request_uuid varchar,
	created_at timestamp
)`

// indexes are the gem's, plus the primary key that its create_table makes.
var indexes = []struct{ name, sql string }{
	{"audits_pkey", `ALTER TABLE audits ADD PRIMARY KEY (id)`},
	{"auditable_index", `CREATE INDEX auditable_index ON audits (auditable_type, auditable_id, version)`},
	{"associated_index", `CREATE INDEX associated_index ON audits (associated_type, associated_id)`},
	{"user_index", `CREATE INDEX user_index ON audits (user_id, user_type)`},
	{"index_audits_on_request_uuid", `CREATE INDEX index_audits_on_request_uuid ON audits (request_uuid)`},
	{"index_audits_on_created_at", `CREATE INDEX index_audits_on_created_at ON audits (created_at)`},
}

var columns = []string{"id", "auditable_id", "auditable_type", "associated_id", "associated_type", "user_id", "user_type",
	"username", "action", "audited_changes", "version", "comment", "remote_address", "request_uuid", "created_at"}

// decoded is one chunk's events, decoded (aliasing the chunk's lines).
type decoded struct {
	k   int
	evs []*event.Event
	err error
}

// chunks makes chunks 0..n-1 of g in parallel, decodes them, and sends them
// in order; the last one is cut to limit events in all.
func chunks(ctx context.Context, g *synth.Generator, limit uint64) <-chan decoded {
	n := int((limit + synth.ChunkSize - 1) / synth.ChunkSize)
	work := runtime.GOMAXPROCS(0)
	outs := make([]chan decoded, n)
	for i := range outs {
		outs[i] = make(chan decoded, 1)
	}
	sem := make(chan struct{}, work+1)
	res := make(chan decoded)
	go func() {
		for k := range n {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				lines := g.Chunk(nil, k)
				first := uint64(k) * synth.ChunkSize
				if first+uint64(len(lines)) > limit {
					lines = lines[:limit-first]
				}
				d := decoded{k: k, evs: make([]*event.Event, len(lines))}
				for i, l := range lines {
					e, err := event.DecodeAliased(l)
					if err != nil {
						d.err = fmt.Errorf("chunk %d line %d: %w", k, i, err)
						break
					}
					d.evs[i] = e
				}
				outs[k] <- d
			}()
		}
	}()
	go func() {
		defer close(res)
		for k := range n {
			d := <-outs[k]
			<-sem
			select {
			case res <- d:
			case <-ctx.Done():
				return
			}
			if d.err != nil {
				return
			}
		}
	}()
	return res
}

// targetKey names a record for the per-record version counter.
type targetKey struct {
	typ uint8
	id  int64
}

// source feeds CopyFrom: the events in order, with the gem's columns.
type source struct {
	in        <-chan decoded
	cur       []*event.Event
	i         int
	id        int64
	types     map[string]uint8 // interned target types
	versions  map[targetKey]int32
	err       error
	row       []any
	start     time.Time
	loaded    int64
	lastPrint time.Time
	total     uint64
	nullUser  int64
}

func (s *source) Next() bool {
	for s.i >= len(s.cur) {
		d, ok := <-s.in
		if !ok {
			return false
		}
		if d.err != nil {
			s.err = d.err
			return false
		}
		s.cur, s.i = d.evs, 0
		if time.Since(s.lastPrint) > 30*time.Second {
			s.lastPrint = time.Now()
			el := time.Since(s.start)
			fmt.Fprintf(os.Stderr, "pgaudited: %d/%d events sent in %s (%.0f/s)\n", s.loaded, s.total, el.Round(time.Second), float64(s.loaded)/el.Seconds())
		}
	}
	return true
}

func (s *source) Values() ([]any, error) {
	e := s.cur[s.i]
	s.cur[s.i] = nil
	s.i++
	s.id++
	s.loaded++
	row := s.row
	clear(row)
	row[0] = s.id
	if t := e.Target; t != nil {
		id, err := strconv.ParseInt(t.ID, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("event %d: target id %q is not an integer: auditable_id cannot be bigint", s.id-1, t.ID)
		}
		typ, ok := s.types[t.Type]
		if !ok {
			typ = uint8(len(s.types))
			s.types[strings.Clone(t.Type)] = typ
		}
		k := targetKey{typ, id}
		v := s.versions[k] + 1 // the gem numbers a record's audits 1, 2, 3, ...
		s.versions[k] = v
		row[1], row[2], row[10] = id, t.Type, v
	} else {
		row[10] = int32(0)
	}
	// associated_id/associated_type: NULL (the events name no parent record).
	if a := e.Actor; a != nil {
		row[5], row[6] = a.ID, a.Type
		if a.Name != "" {
			row[7] = a.Name
		}
	} else {
		s.nullUser++
	}
	row[8] = e.Action
	if e.Changes != nil {
		row[9] = e.Changes // []byte: sent as JSON text
	}
	if e.Context.IP != "" {
		row[12] = e.Context.IP
	}
	if e.Context.RequestID != "" {
		row[13] = e.Context.RequestID
	}
	row[14] = e.Time.UTC()
	return row, nil
}

func (s *source) Err() error { return s.err }

func exec(ctx context.Context, out io.Writer, conn *pgx.Conn, what, sql string) (time.Duration, error) {
	t0 := time.Now()
	if _, err := conn.Exec(ctx, sql); err != nil {
		return 0, fmt.Errorf("%s: %w", sql, err)
	}
	d := time.Since(t0)
	fmt.Fprintf(out, "%-30s %9.1f s\n", what, d.Seconds())
	return d, nil
}

func load(ctx context.Context, out io.Writer, conn *pgx.Conn, g *synth.Generator, n uint64) error {
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS audits`); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, createTable); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n## load of the first %d events (one COPY, no indexes yet; ids 1..n given by the loader, sequence set after)\n", n)
	ctx2, cancel := context.WithCancel(ctx)
	defer cancel()
	src := &source{
		in: chunks(ctx2, g, n), types: map[string]uint8{}, versions: make(map[targetKey]int32, 5_000_000),
		row: make([]any, len(columns)), start: time.Now(), lastPrint: time.Now(), total: n,
	}
	t0 := time.Now()
	copied, err := conn.CopyFrom(ctx, pgx.Identifier{"audits"}, columns, src)
	if err != nil {
		return err
	}
	loadTime := time.Since(t0)
	if uint64(copied) != n {
		return fmt.Errorf("copied %d rows, want %d", copied, n)
	}
	maxVersion := int32(0)
	for _, v := range src.versions {
		maxVersion = max(maxVersion, v)
	}
	fmt.Fprintf(out, "COPY %d rows                  %9.1f s  (%.0f rows/s); all target ids integers (auditable_id bigint); %d distinct targets, max version %d; %d events without actor\n",
		copied, loadTime.Seconds(), float64(copied)/loadTime.Seconds(), len(src.versions), maxVersion, src.nullUser)
	src.versions = nil
	if _, err := conn.Exec(ctx, `SELECT setval(pg_get_serial_sequence('audits', 'id'), (SELECT max(id) FROM audits))`); err != nil {
		return err
	}
	if _, err := exec(ctx, out, conn, "CHECKPOINT", `CHECKPOINT`); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n## indexes (built after the load, one after another)\n")
	var total time.Duration
	for _, ix := range indexes {
		d, err := exec(ctx, out, conn, ix.name, ix.sql)
		if err != nil {
			return err
		}
		total += d
	}
	fmt.Fprintf(out, "%-30s %9.1f s\n", "all indexes", total.Seconds())
	if _, err := exec(ctx, out, conn, "VACUUM ANALYZE", `VACUUM ANALYZE audits`); err != nil {
		return err
	}
	if _, err := exec(ctx, out, conn, "CHECKPOINT", `CHECKPOINT`); err != nil {
		return err
	}
	fmt.Fprintf(out, "%-30s %9.1f s\n", "load+indexes", (loadTime + total).Seconds())
	return nil
}

func sizes(ctx context.Context, out io.Writer, conn *pgx.Conn) error {
	var rows int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audits`).Scan(&rows); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n## sizes (%d rows)\n", rows)
	pr := func(name string, b int64) {
		fmt.Fprintf(out, "%-30s %14d bytes  %8.1f MiB  %7.1f bytes/row\n", name, b, float64(b)/(1<<20), float64(b)/float64(max(rows, 1)))
	}
	var total, table, heap, toast int64
	if err := conn.QueryRow(ctx, `SELECT pg_total_relation_size('audits'), pg_table_size('audits'), pg_relation_size('audits'),
		coalesce(pg_total_relation_size(nullif(reltoastrelid, 0)), 0) FROM pg_class WHERE oid = 'audits'::regclass`).Scan(&total, &table, &heap, &toast); err != nil {
		return err
	}
	pr("total (pg_total_relation_size)", total)
	pr("table (pg_table_size)", table)
	pr("  heap main fork", heap)
	pr("  toast", toast)
	r, err := conn.Query(ctx, `SELECT indexrelid::regclass::text, pg_relation_size(indexrelid) FROM pg_index WHERE indrelid = 'audits'::regclass ORDER BY 2 DESC`)
	if err != nil {
		return err
	}
	var name string
	var b int64
	_, err = pgx.ForEachRow(r, []any{&name, &b}, func() error { pr("index "+name, b); return nil })
	return err
}

// lookup is one prepared query and how to bind a key to it.
type lookup struct {
	name, stmt, kind, sql string
}

var lookups = []lookup{
	{"record history", "record_history", "target", `SELECT * FROM audits WHERE auditable_type = $1 AND auditable_id = $2 ORDER BY version DESC LIMIT 100`},
	{"actor history", "actor_history", "actor", `SELECT * FROM audits WHERE user_id = $1 AND user_type = $2 ORDER BY created_at DESC, id DESC LIMIT 100`},
	{"actor, no ORDER BY", "actor_noorder", "actor", `SELECT * FROM audits WHERE user_id = $1 AND user_type = $2 LIMIT 100`},
	{"request id", "request_id", "request", `SELECT * FROM audits WHERE request_uuid = $1`},
}

func (l lookup) args(k synth.Key) ([]any, error) {
	switch l.kind {
	case "target":
		id, err := strconv.ParseInt(k.ID, 10, 64)
		return []any{k.Type, id}, err
	case "actor":
		return []any{k.ID, k.Type}, nil
	}
	return []any{k.ID}, nil
}

// query runs a prepared lookup and reads and scans every row.
func query(ctx context.Context, conn *pgx.Conn, l lookup, k synth.Key) (int, error) {
	args, err := l.args(k)
	if err != nil {
		return 0, err
	}
	rows, err := conn.Query(ctx, l.stmt, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	var (
		id                                                  int64
		auditableID                                         *int64
		version                                             *int32
		changes                                             []byte
		createdAt                                           *time.Time
		at, asid, ast, uid, ut, un, act, cmt, ip, requestID *string
	)
	dst := []any{&id, &auditableID, &at, &asid, &ast, &uid, &ut, &un, &act, &changes, &version, &cmt, &ip, &requestID, &createdAt}
	n := 0
	for rows.Next() {
		if err := rows.Scan(dst...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}

func prepare(ctx context.Context, conn *pgx.Conn) error {
	for _, l := range lookups {
		if _, err := conn.Prepare(ctx, l.stmt, l.sql); err != nil {
			return fmt.Errorf("prepare %s: %w", l.name, err)
		}
	}
	return nil
}

// latencies runs q for each key and reports p50, p99 and max, and the
// slowest keys.
func latencies(out io.Writer, name string, keys []synth.Key, q func(synth.Key) (int, error)) error {
	type obs struct {
		d    time.Duration
		rows int
		k    synth.Key
	}
	d := make([]obs, 0, len(keys))
	rows, maxRows := 0, 0
	for _, k := range keys {
		t0 := time.Now()
		n, err := q(k)
		if err != nil {
			return fmt.Errorf("%s %v: %w", name, k, err)
		}
		d = append(d, obs{time.Since(t0), n, k})
		rows += n
		maxRows = max(maxRows, n)
	}
	slices.SortFunc(d, func(a, b obs) int { return int(a.d - b.d) })
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(q*float64(len(d))))].d }
	fmt.Fprintf(out, "%-22s n=%-5d p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  rows/lookup %.1f (max %d)\n", name, len(d),
		ms(p(.5)), ms(p(.99)), ms(d[len(d)-1].d), float64(rows)/float64(len(d)), maxRows)
	var slow []string
	for _, o := range slices.Backward(d[max(0, len(d)-3):]) {
		slow = append(slow, fmt.Sprintf("%s %.1f ms (%d rows)", strings.TrimSpace(o.k.Type+" "+o.k.ID), ms(o.d), o.rows))
	}
	fmt.Fprintf(out, "%-22s slowest: %s\n", "", strings.Join(slow, "; "))
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// requestKeys picks n events uniformly from the first limit events of g
// (seeded, deterministic) and returns their request ids, in the order drawn.
func requestKeys(g *synth.Generator, limit uint64, n int, seed uint64) []synth.Key {
	r := rand.New(rand.NewPCG(seed, 0x7265717565737473))
	picks := make([]uint64, n)
	byChunk := map[int][]int{}
	for i := range picks {
		picks[i] = r.Uint64N(limit)
		k := int(picks[i] / synth.ChunkSize)
		byChunk[k] = append(byChunk[k], i)
	}
	ks := make([]int, 0, len(byChunk))
	for k := range byChunk {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	keys := make([]synth.Key, n)
	type res struct {
		k     int
		lines [][]byte
	}
	ch := make(chan res)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	go func() {
		for _, k := range ks {
			sem <- struct{}{}
			go func() { ch <- res{k, g.Chunk(nil, k)} }()
		}
	}()
	for range ks {
		c := <-ch
		<-sem
		for _, i := range byChunk[c.k] {
			e, err := event.Decode(c.lines[picks[i]-uint64(c.k)*synth.ChunkSize])
			if err != nil {
				panic(err) // the generator's own output
			}
			keys[i] = synth.Key{Kind: "request", ID: e.Context.RequestID}
		}
	}
	return keys
}

// loadedEvents is how many events the table holds: its ids are 1..n, and
// the loader set the id sequence to n. (A count would read the whole table,
// and the cold lookups must find it uncached.)
func loadedEvents(ctx context.Context, conn *pgx.Conn) (uint64, error) {
	var n int64
	err := conn.QueryRow(ctx, `SELECT last_value FROM audits_id_seq`).Scan(&n)
	return uint64(n), err
}

const (
	warmSeed = 2
	coldSeed = 3
)

func keysFor(g *synth.Generator, kind string, n int, seed, loaded uint64) []synth.Key {
	if kind == "request" {
		return requestKeys(g, loaded, n, seed)
	}
	return g.Keys(kind, n, seed)
}

func warmLookups(ctx context.Context, out io.Writer, conn *pgx.Conn, g *synth.Generator, o options) error {
	loaded, err := loadedEvents(ctx, conn)
	if err != nil {
		return err
	}
	if err := prepare(ctx, conn); err != nil {
		return err
	}
	keys := map[string][]synth.Key{}
	for _, kind := range []string{"target", "actor", "request"} {
		keys[kind] = keysFor(g, kind, o.lookups, warmSeed, loaded)
	}
	fmt.Fprintf(out, "\n## warm lookups (%d keys each, seed %d; each set run once untimed, then timed)\n", o.lookups, warmSeed)
	for _, l := range lookups {
		q := func(k synth.Key) (int, error) { return query(ctx, conn, l, k) }
		if err := latencies(io.Discard, l.name, keys[l.kind], q); err != nil {
			return err
		}
		if err := latencies(out, l.name, keys[l.kind], q); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\n## count by action per day\n")
	for i := range 3 {
		t0 := time.Now()
		rows, err := conn.Query(ctx, `SELECT date_trunc('day', created_at) d, action, count(*) FROM audits GROUP BY 1, 2`)
		if err != nil {
			return err
		}
		n := 0
		days := map[time.Time]bool{}
		var d time.Time
		var action string
		var c int64
		for rows.Next() {
			if err := rows.Scan(&d, &action, &c); err != nil {
				return err
			}
			days[d] = true
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		fmt.Fprintf(out, "run %d: %d groups (%d days) in %.1f ms\n", i+1, n, len(days), ms(time.Since(t0)))
	}
	if o.explain {
		return explain(ctx, out, conn)
	}
	return nil
}

func explain(ctx context.Context, out io.Writer, conn *pgx.Conn) error {
	var busiest string
	var cnt int64
	if err := conn.QueryRow(ctx, `SELECT user_id, count(*) FROM audits GROUP BY 1 ORDER BY 2 DESC LIMIT 1`).Scan(&busiest, &cnt); err != nil {
		return err
	}
	// A typical actor: the median of floor(1e6·U³) is floor(1e6/8) = 125000.
	typical := synth.ActorID(125000)
	var typicalCnt int64
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM audits WHERE user_id = $1`, typical).Scan(&typicalCnt); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n## EXPLAIN: busiest actor user_id %q has %d rows; typical actor %q has %d\n", busiest, cnt, typical, typicalCnt)
	for _, c := range []struct{ title, sql string }{
		{"actor history, busiest actor, the prepared statement as the benchmark ran it (EXECUTE)", fmt.Sprintf(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE actor_history(%s, 'User')`, quote(busiest))},
		{"actor history, busiest actor, literal values", fmt.Sprintf(`EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM audits WHERE user_id = %s AND user_type = 'User' ORDER BY created_at DESC, id DESC LIMIT 100`, quote(busiest))},
		{"actor, no ORDER BY, busiest actor (EXECUTE)", fmt.Sprintf(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE actor_noorder(%s, 'User')`, quote(busiest))},
		{"actor history, typical actor (EXECUTE)", fmt.Sprintf(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE actor_history(%s, 'User')`, quote(typical))},
		{"record history (EXECUTE)", `EXPLAIN (ANALYZE, BUFFERS) EXECUTE record_history('Order', 12345)`},
	} {
		fmt.Fprintf(out, "\n### %s\n%s\n", c.title, c.sql)
		rows, err := conn.Query(ctx, c.sql, pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return err
		}
		var line string
		if _, err := pgx.ForEachRow(rows, []any{&line}, func() error { fmt.Fprintln(out, line); return nil }); err != nil {
			return err
		}
	}
	return nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func coldLookups(ctx context.Context, out io.Writer, conn *pgx.Conn, g *synth.Generator, o options) error {
	loaded, err := loadedEvents(ctx, conn)
	if err != nil {
		return err
	}
	for _, kind := range strings.Split(o.cold, ",") {
		var l lookup
		for _, c := range lookups {
			if c.kind == kind {
				l = c
				break
			}
		}
		if l.kind == "" {
			return fmt.Errorf("-cold: unknown kind %q (target, actor, request)", kind)
		}
		keys := keysFor(g, kind, o.coldLookups, coldSeed, loaded)
		if _, err := conn.Prepare(ctx, l.stmt, l.sql); err != nil {
			return err
		}
		fmt.Fprintf(out, "\n## cold lookups (%d keys, seed %d, run once, no warm-up)\n", o.coldLookups, coldSeed)
		if err := latencies(out, l.name+" (cold)", keys, func(k synth.Key) (int, error) { return query(ctx, conn, l, k) }); err != nil {
			return err
		}
	}
	return nil
}
