package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// privatePG starts a PostgreSQL cluster of the test's own (scripts/pg.sh)
// with conf added to its postgresql.conf, and returns its connection string
// and directory; it is stopped and removed when the test ends.
func privatePG(t *testing.T, conf string) (dsn, dir string) {
	t.Helper()
	path, _ := filepath.Abs("../../scripts/pg.sh")
	cmd := exec.Command("bash", path, "start")
	cmd.Env = append(os.Environ(), "KANSA_PG_CONF="+conf)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg.sh start: %v", err)
	}
	env := map[string]string{}
	for _, l := range strings.FieldsFunc(string(out), func(r rune) bool { return r == ';' || r == '\n' }) {
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(l), "export "), "=")
		if ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	dsn, dir = env["KANSA_TEST_PG"], env["KANSA_TEST_PGDIR"]
	if dsn == "" || dir == "" {
		t.Fatalf("pg.sh start printed %q", out)
	}
	t.Cleanup(func() {
		stop := exec.Command("bash", path, "stop", dir)
		stop.Stderr = os.Stderr
		stop.Run()
	})
	return dsn, dir
}

// TestImportPgAudit: a real PostgreSQL 15 with pgAudit writes its log in
// the three formats at once; kansa import reads each into the archive, and
// the three give the same events: the multi-line statement, the statement
// that logs one entry per relation, and the parameters of a prepared
// statement (its values a CSV list in one field).
func TestImportPgAudit(t *testing.T) {
	needBinary(t)
	dsn, dir := privatePG(t, strings.Join([]string{
		"logging_collector = on",
		"log_destination = 'stderr,csvlog,jsonlog'",
		"log_directory = 'log'",
		"log_filename = 'postgresql.log'",
		"log_line_prefix = '%m [%p] %q%u@%d '",
		"pgaudit.log = 'write, ddl, read'",
		"pgaudit.log_parameter = on",
		"pgaudit.log_relation = on",
	}, "\n"))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE orders(id bigint primary key, status text)",
		"CREATE TABLE customers(id bigint primary key, name text)",
		"INSERT INTO orders VALUES (1, 'paid'), (2, 'new')",
		"SELECT o.id FROM orders o JOIN customers c ON c.id = o.id",
		"UPDATE orders SET status = 'shipped,\n\tpartially' WHERE id = 1",
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var status string
	if err := conn.QueryRow(ctx, "SELECT status FROM orders WHERE id = $1 AND status <> $2", 2, `say "hi", ok`).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "DELETE FROM orders WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)

	// The logging collector writes as messages come: wait until the last
	// statement is in every file.
	logs := filepath.Join(dir, "data", "log")
	files := map[string]string{"pgaudit": "postgresql.log", "pgaudit-csv": "postgresql.csv", "pgaudit-json": "postgresql.json"}
	deadline := time.Now().Add(30 * time.Second)
	for _, f := range files {
		for {
			b, _ := os.ReadFile(filepath.Join(logs, f))
			if strings.Contains(string(b), "DELETE FROM orders WHERE id = 2") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not hold the last statement:\n%s", f, b)
			}
			time.Sleep(20 * time.Millisecond) // polling a file another process writes
		}
	}
	got := map[string][]string{}
	for format, f := range files {
		src := filepath.Join(t.TempDir(), f)
		b, _ := os.ReadFile(filepath.Join(logs, f))
		os.WriteFile(src, b, 0o644)
		data := t.TempDir()
		if format == "pgaudit" {
			// The wrong prefix finds nothing and says so; the right one then
			// reads the file again.
			out, errOut := runStderr(t, "import", "--data", data, "--format", format, "--log-line-prefix", "%t:%r:%u@%d:[%p]:", src)
			if !strings.HasPrefix(out, "imported 0 events from 1 files") || !strings.Contains(errOut, "no pgAudit entries in") {
				t.Fatalf("wrong prefix: %s / %s", out, errOut)
			}
		}
		if _, err := run(t, nil, "import", "--data", data, "--format", format, src); err != nil {
			t.Fatal(err)
		}
		// Again: nothing new (the ledger), and the ids would match anyway.
		if out, err := run(t, nil, "import", "--data", data, "--format", format, src); err != nil || !strings.HasPrefix(string(out), "imported 0 events from 0 files (1 skipped") {
			t.Fatalf("second import: %v %s", err, out)
		}
		out, err := run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0", "source:pgaudit:import")
		if err != nil {
			t.Fatal(err)
		}
		var rows []string
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var e struct {
				Time, Action string
				Actor        struct{ ID string }
				Target       struct{ Type, ID string }
				Meta         struct {
					Database string
					Pgaudit  struct {
						Statement   string
						Class       string
						Parameters  []string
						StatementID int `json:"statement_id"`
					}
				}
			}
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("%s: %v: %s", format, err, l)
			}
			if e.Actor.ID != "postgres" || e.Meta.Database != "postgres" {
				t.Fatalf("%s: actor %q database %q", format, e.Actor.ID, e.Meta.Database)
			}
			rows = append(rows, strings.Join([]string{fmt.Sprint(e.Meta.Pgaudit.StatementID), e.Action, e.Meta.Pgaudit.Class, e.Target.Type + ":" + e.Target.ID, e.Meta.Pgaudit.Statement, strings.Join(e.Meta.Pgaudit.Parameters, "|")}, " / "))
		}
		slices.Sort(rows)
		got[format] = rows
	}
	want := []string{
		"1 / create_table / DDL / : / CREATE TABLE orders(id bigint primary key, status text) / ",
		"2 / create_table / DDL / : / CREATE TABLE customers(id bigint primary key, name text) / ",
		"3 / insert / WRITE / PostgreSQL::Table:public.orders / INSERT INTO orders VALUES (1, 'paid'), (2, 'new') / ",
		// One statement, one entry per relation, the same statement id.
		"4 / select / READ / PostgreSQL::Table:public.customers / SELECT o.id FROM orders o JOIN customers c ON c.id = o.id / ",
		"4 / select / READ / PostgreSQL::Table:public.orders / SELECT o.id FROM orders o JOIN customers c ON c.id = o.id / ",
		"5 / update / WRITE / PostgreSQL::Table:public.orders / UPDATE orders SET status = 'shipped,\n\tpartially' WHERE id = 1 / ",
		"6 / select / READ / PostgreSQL::Table:public.orders / SELECT status FROM orders WHERE id = $1 AND status <> $2 / 2|say \"hi\", ok",
		"7 / delete / WRITE / PostgreSQL::Table:public.orders / DELETE FROM orders WHERE id = 2 / ",
	}
	for format, rows := range got {
		if strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s:\n%s\nwant\n%s", format, strings.Join(rows, "\n"), strings.Join(want, "\n"))
		}
	}
}

// TestImportAuditLoggable: AuditLoggable lines from a file, a line that is
// not JSON to the error output; a file that grew since is resumed where it
// stopped, nothing archived twice.
func TestImportAuditLoggable(t *testing.T) {
	needBinary(t)
	line, err := os.ReadFile("../../internal/mapping/testdata/line.json")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "audit.log")
	body := strings.TrimSpace(string(line)) + "\nnot json\n"
	os.WriteFile(src, []byte(body), 0o644)
	data := t.TempDir()
	out, err := run(t, nil, "import", "--data", data, "--format", "auditloggable", src)
	if err != nil || !strings.HasPrefix(string(out), "imported 1 events from 1 files (0 skipped as already imported; 1 lines to the error output)") {
		t.Fatalf("%v %s", err, out)
	}
	f, _ := os.OpenFile(src, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(strings.Replace(strings.TrimSpace(string(line)), `"update"`, `"destroy"`, 1) + "\n")
	f.Close()
	if out, err = run(t, nil, "import", "--data", data, "--format", "auditloggable", src); err != nil || !strings.HasPrefix(string(out), "imported 1 events from 1 files") {
		t.Fatalf("resumed: %v %s", err, out)
	}
	out, err = run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0", "source:import")
	if err != nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 1 || !strings.Contains(string(out), `"action":"delete"`) {
		t.Fatalf("archive after two imports: %v\n%s", err, out)
	}
}

// TestTailPgAudit: kansa serve follows a real PostgreSQL's log directory:
// entries appear as statements run, across a log rotation and a SIGKILL
// of kansa; nothing is lost, and the archive and its logs verify.
func TestTailPgAudit(t *testing.T) {
	needBinary(t)
	dsn, dir := privatePG(t, strings.Join([]string{
		"logging_collector = on",
		"log_destination = 'stderr'",
		"log_directory = 'log'",
		"log_filename = 'postgresql-%Y%m%d-%H%M%S.log'",
		"log_line_prefix = '%m [%p] %q%u@%d '",
		"pgaudit.log = 'write, ddl'",
	}, "\n"))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string) {
		t.Helper()
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("inputs:\n  pgaudit:\n    - name: main\n      dir: %s\n      log_line_prefix: '%%m [%%p] %%q%%u@%%d '\n      poll_interval: 50ms\nbatch:\n  max_interval: 200ms\n", filepath.Join(dir, "data", "log")))
	srv := startServe(t, data, "--config", cfg)
	waitFor := func(s *server, n int) { waitSearch(t, s, data, "source:pgaudit:main", n) }
	exec("CREATE TABLE t(id int)")
	for i := range 20 {
		exec(fmt.Sprintf("INSERT INTO t VALUES (%d)", i))
	}
	waitFor(srv, 21)

	// Rotation: a new file (its name has the second in it).
	for s := time.Now().Unix(); time.Now().Unix() == s; {
		time.Sleep(10 * time.Millisecond) // the clock's next second, for a new file name
	}
	exec("SELECT pg_rotate_logfile()")
	for i := 20; i < 40; i++ {
		exec(fmt.Sprintf("INSERT INTO t VALUES (%d)", i))
	}
	waitFor(srv, 41)

	// SIGKILL while statements are logged; the restart resumes at the
	// checkpoint.
	for i := 40; i < 60; i++ {
		exec(fmt.Sprintf("INSERT INTO t VALUES (%d)", i))
	}
	srv.kill()
	for i := 60; i < 80; i++ {
		exec(fmt.Sprintf("INSERT INTO t VALUES (%d)", i))
	}
	srv = startServe(t, data, "--config", cfg)
	waitFor(srv, 81)
	srv.stop(t)

	seen := map[string]bool{}
	for _, e := range archivedEvents(t, filepath.Join(data, "archive")) {
		if e.Source == "pgaudit:main" {
			var m struct{ Pgaudit struct{ Statement string } }
			json.Unmarshal(e.Meta, &m)
			seen[m.Pgaudit.Statement] = true
		}
	}
	for i := range 80 {
		if q := fmt.Sprintf("INSERT INTO t VALUES (%d)", i); !seen[q] {
			t.Fatalf("%q is not in the archive", q)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "data", "log", "*.log"))
	if len(files) < 2 {
		t.Fatalf("log files %v: the rotation did not happen", files)
	}
	if out, err := run(t, nil, "verify", "--data", data); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestImportCloudTrail: a downloaded bucket tree, gzipped; each record one
// event, the digest file skipped, a file that does not decompress sent to
// the error output, a second run archives nothing more.
func TestImportCloudTrail(t *testing.T) {
	needBinary(t)
	tree := t.TempDir()
	logs := filepath.Join(tree, "AWSLogs/123456789012/CloudTrail/ap-northeast-1/2024/10/12")
	digests := filepath.Join(tree, "AWSLogs/123456789012/CloudTrail-Digest/ap-northeast-1/2024/10/12")
	os.MkdirAll(logs, 0o755)
	os.MkdirAll(digests, 0o755)
	gz, err := os.ReadFile("../../internal/input/cloudtrail/testdata/123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json.gz")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(logs, "123456789012_CloudTrail_ap-northeast-1_20241012T0000Z_sample.json.gz"), gz, 0o644)
	os.WriteFile(filepath.Join(digests, "123456789012_CloudTrail-Digest_ap-northeast-1_x.json.gz"), gz, 0o644)
	os.WriteFile(filepath.Join(logs, "123456789012_CloudTrail_ap-northeast-1_20241012T0005Z_broken.json.gz"), []byte{0x1f, 0x8b, 1, 2, 3}, 0o644)
	data := t.TempDir()
	out, err := run(t, nil, "import", "--data", data, "--format", "cloudtrail", tree)
	if err != nil || !strings.HasPrefix(string(out), "imported 3 events from 2 files") || !strings.Contains(string(out), "1 lines to the error output") || !strings.Contains(string(out), "1 CloudTrail digest files skipped") {
		t.Fatalf("%v %s", err, out)
	}
	if out, err = run(t, nil, "import", "--data", data, "--format", "cloudtrail", tree); err != nil || !strings.HasPrefix(string(out), "imported 0 events from 0 files (2 skipped") {
		t.Fatalf("second run: %v %s", err, out)
	}
	out, err = run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0", "actor:AWS::IAM::User:*")
	if err != nil || !strings.Contains(string(out), `"action":"ConsoleLogin"`) || strings.Count(string(out), "\n") != 1 {
		t.Fatalf("search: %v\n%s", err, out)
	}
}

// TestImportAudited: the audited gem's audits table from a real
// PostgreSQL, audited_changes as the gem's YAML text and as jsonb; a second
// run copies only the rows added since.
func TestImportAudited(t *testing.T) {
	needBinary(t)
	dsn, _ := privatePG(t, "")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{
		`CREATE TABLE audits (id bigserial primary key, auditable_id bigint, auditable_type varchar, associated_id bigint, associated_type varchar,
			user_id bigint, user_type varchar, username varchar, action varchar, audited_changes text, version integer DEFAULT 0,
			comment varchar, remote_address varchar, request_uuid varchar, created_at timestamp)`,
		`CREATE TABLE audits_json (LIKE audits INCLUDING ALL)`,
		`ALTER TABLE audits_json ALTER COLUMN audited_changes TYPE jsonb USING audited_changes::jsonb`,
		`INSERT INTO audits (auditable_id, auditable_type, user_id, user_type, action, audited_changes, version, remote_address, request_uuid, created_at) VALUES
			(17, 'Order', 42, 'User', 'create', E'---\nstatus: paid\ntotal: !ruby/object:BigDecimal 18:0.1e2\n', 1, '192.0.2.1', 'req-1', '2024-08-06 09:00:00'),
			(17, 'Order', 42, 'User', 'update', E'---\nstatus:\n- paid\n- shipped\n', 2, '192.0.2.1', 'req-2', '2024-08-06 10:00:00'),
			(17, 'Order', NULL, NULL, 'destroy', E'---\nstatus: shipped\n', 3, NULL, NULL, '2024-08-07 10:00:00')`,
		`INSERT INTO audits_json (auditable_id, auditable_type, username, action, audited_changes, version, created_at) VALUES
			(5, 'Admin::Setting', 'ops', 'update', '{"value": ["a", "b"]}', 2, '2024-08-06 11:00:00')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%v: %s", err, q)
		}
	}
	data := t.TempDir()
	for _, table := range []string{"audits", "audits_json"} {
		if out, err := run(t, nil, "import", "--data", data, "--format", "audited", "--table", table, dsn); err != nil {
			t.Fatalf("%v %s", err, out)
		}
	}
	out, err := run(t, nil, "history", "--data", data, "--format", "json", "Order:17")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], `"action":"delete"`) || !strings.Contains(lines[1], `"changes":{"status":["paid","shipped"]}`) ||
		!strings.Contains(lines[2], `"total":"18:0.1e2"`) || !strings.Contains(lines[2], `"request_id":"req-1"`) {
		t.Fatalf("Order:17's history:\n%s", out)
	}
	if out, err := run(t, nil, "search", "--data", data, "--format", "json", "target:Admin::Setting:5"); err != nil || !strings.Contains(string(out), `"changes":{"value": ["a", "b"]}`) || !strings.Contains(string(out), `"actor":{"type":"User","id":"ops"`) {
		t.Fatalf("jsonb changes: %v\n%s", err, out)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO audits (auditable_id, auditable_type, action, audited_changes, created_at) VALUES (18, 'Order', 'create', E'---\nstatus: new\n', '2024-08-08 00:00:00')`); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, nil, "import", "--data", data, "--format", "audited", dsn); err != nil || !strings.HasPrefix(string(out), "imported 1 events") {
		t.Fatalf("second run: %v %s", err, out)
	}
}

// TestChangeCapture: kansa serve on a logical replication slot of a real
// PostgreSQL. Row changes arrive joined with the application context sent
// in their transaction; a rolled-back transaction gives nothing; after a
// SIGKILL of kansa mid-stream every change is in the archive exactly once.
func TestChangeCapture(t *testing.T) {
	needBinary(t)
	dsn, _ := privatePG(t, "")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%v: %s", err, q)
		}
	}
	exec("CREATE TABLE orders(id bigint primary key, status text, total numeric)")
	exec("ALTER TABLE orders REPLICA IDENTITY FULL")
	exec("CREATE TABLE notes(id int primary key, body text)")
	exec("CREATE PUBLICATION kansa_pub FOR TABLE orders, notes")
	data := t.TempDir()
	cfg := writeConfig(t, fmt.Sprintf("inputs:\n  postgres:\n    - name: main\n      dsn: %q\n      publication: kansa_pub\n      status_interval: 100ms\nbatch:\n  max_interval: 200ms\n", dsn))
	srv := startServe(t, data, "--config", cfg)
	waitFor := func(s *server, n int) []map[string]any { return waitSearch(t, s, data, "source:pgcdc:main", n) }
	// Changes are captured from the slot's creation on: wait for it.
	for deadline := time.Now().Add(30 * time.Second); ; {
		var n int
		conn.QueryRow(ctx, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kansa_main'").Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replication slot\n%s", srv.stderr.String())
		}
		time.Sleep(20 * time.Millisecond) // polling the server's catalog
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`SELECT pg_logical_emit_message(true, 'kansa', '{"actor":{"type":"User","id":42,"name":"alice"},"request_id":"req-1","endpoint":"PATCH /orders/{id}","ip":"192.0.2.7"}')`,
		"INSERT INTO orders VALUES (1, 'new', 9.90)",
		"UPDATE orders SET status = 'paid' WHERE id = 1",
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	tx, _ = conn.Begin(ctx)
	tx.Exec(ctx, "INSERT INTO orders VALUES (2, 'rolled back', 1)")
	tx.Rollback(ctx)
	exec("INSERT INTO notes VALUES (1, 'a')")
	exec("UPDATE notes SET body = 'b' WHERE id = 1")
	exec("TRUNCATE notes")
	evs := waitFor(srv, 5)
	byAction := map[string]map[string]any{}
	for _, e := range evs {
		tg := e["target"].(map[string]any)
		byAction[fmt.Sprint(tg["type"], " ", e["action"])] = e
		if tg["id"] == "2" {
			t.Fatalf("a rolled-back insert was captured: %v", e)
		}
	}
	up := byAction["public.orders update"]
	if up != nil && up["target"].(map[string]any)["id"] != "1" {
		t.Fatalf("under REPLICA IDENTITY FULL the target is the primary key's value: %v", up["target"])
	}
	if tr := byAction["PostgreSQL::Table truncate"]; tr == nil || tr["target"].(map[string]any)["id"] != "public.notes" {
		t.Fatalf("TRUNCATE notes: %v", tr)
	}
	if up == nil || fmt.Sprint(up["changes"]) != "map[status:[new paid]]" || fmt.Sprint(up["actor"]) != "map[id:42 name:alice type:User]" ||
		fmt.Sprint(up["context"]) != "map[endpoint:PATCH /orders/{id} ip:192.0.2.7 request_id:req-1]" {
		t.Fatalf("the order's update, joined with its context: %v", up)
	}
	if ins := byAction["public.orders create"]; ins == nil || fmt.Sprint(ins["changes"]) != "map[id:1 status:new total:9.9]" {
		t.Fatalf("the order's insert: %v", ins)
	}
	if n := byAction["public.notes update"]; n == nil || fmt.Sprint(n["changes"]) != "map[body:b id:1]" || n["actor"] != nil {
		t.Fatalf("a note's update, without REPLICA IDENTITY FULL and without context: %v", n)
	}

	// SIGKILL mid-stream, then a restart.
	for i := 100; i < 150; i++ {
		exec("INSERT INTO notes VALUES ($1, 'x')", i)
	}
	srv.kill()
	for i := 150; i < 200; i++ {
		exec("INSERT INTO notes VALUES ($1, 'x')", i)
	}
	srv = startServe(t, data, "--config", cfg)
	waitFor(srv, 105)
	srv.stop(t)
	count := map[string]int{}
	for _, e := range archivedEvents(t, filepath.Join(data, "archive")) {
		if e.Source == "pgcdc:main" && e.Target.Table == "notes" && e.Action == "create" {
			count[e.Target.ID]++
		}
	}
	for i := 100; i < 200; i++ {
		if c := count[fmt.Sprint(i)]; c != 1 {
			t.Fatalf("note %d is in the archive %d times", i, c)
		}
	}
}

// waitSearch polls kansa search on data until q finds at least n events,
// and returns them decoded.
func waitSearch(t *testing.T, s *server, data, q string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, _ := run(t, nil, "search", "--data", data, "--format", "json", "--limit", "0", q)
		var evs []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			var e map[string]any
			if json.Unmarshal([]byte(l), &e) == nil {
				evs = append(evs, e)
			}
		}
		if len(evs) >= n {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %d events of %s, have %d\n%s", n, q, len(evs), s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // polling the server's answer
	}
}
