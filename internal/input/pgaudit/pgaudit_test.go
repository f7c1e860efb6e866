package pgaudit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
)

func readAll(t *testing.T, data []byte, f Format, prefix string) []Entry {
	t.Helper()
	var p *Prefix
	if f == Stderr {
		var err error
		if p, err = ParsePrefix(prefix); err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(bytes.NewReader(data), 0, f, p, nil)
	r.Final()
	var out []Entry
	for {
		var e Entry
		err := r.Next(&e)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		e.Raw = append([]byte(nil), e.Raw...)
		out = append(out, e)
	}
}

func sample(t *testing.T, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSamples(t *testing.T) {
	rds := readAll(t, sample(t, "aurora-prefix-t-r-u-d-p.log"), Stderr, PrefixRDS)
	if len(rds) != 1 {
		t.Fatalf("%d entries", len(rds))
	}
	if got := fmt.Sprintf("%s|%s|%s|%s|%d|%s|%d|%d|%s|%s|%s|%s", rds[0].Time.Format(time.RFC3339), rds[0].User, rds[0].Database, rds[0].Host+"("+rds[0].Port+")", rds[0].PID,
		rds[0].AuditType, rds[0].StatementID, rds[0].SubstatementID, rds[0].Class, rds[0].Command, rds[0].Statement, rds[0].ParamsNote); got != "2024-05-20T09:00:02Z|postgres|hajimete_no_database|118.238.245.175(57617)|1703|SESSION|2|1|MISC|SHOW|SHOW shared_preload_libraries;|" {
		t.Fatalf("rds: %s", got)
	}
	if rds[0].Params == nil || len(rds[0].Params) != 1 || rds[0].Params[0] != "" {
		t.Fatalf("rds parameter: an empty last field is one empty value, got %q", rds[0].Params)
	}

	deb := readAll(t, sample(t, "stderr-debian-default-prefix.log"), Stderr, PrefixDebian)
	if len(deb) != 6 {
		t.Fatalf("debian: %d entries", len(deb))
	}
	if deb[1].StatementID != 2 || deb[2].StatementID != 2 || deb[2].ObjectType != "INDEX" || deb[2].ObjectName != "public.orders_pkey" {
		t.Fatalf("one statement, two objects: %+v / %+v", deb[1], deb[2])
	}
	if deb[4].Statement != "UPDATE orders SET status = 'shipped,\n\tpartially' WHERE id = 1" && deb[4].Statement != "UPDATE orders SET status = 'shipped,\npartially' WHERE id = 1" {
		t.Fatalf("multi-line statement: %q", deb[4].Statement)
	}
	if !bytes.Contains(deb[4].Raw, []byte("\n\tpartially")) || deb[4].ParamsNote != "<not logged>" || deb[4].PID != 20684 || deb[4].Time.Nanosecond() != 705e6 {
		t.Fatalf("multi-line entry: %+v", deb[4])
	}

	m := readAll(t, sample(t, "stderr-prefix-m-r-u-d-p.log"), Stderr, "%m:%r:%u@%d:[%p]:")
	if len(m) != 3 || m[1].Statement != "INSERT INTO accounts VALUES (1,'alice','a@x'),(2,'bob','b@x')" || m[2].Statement != "UPDATE accounts SET email='alice@example.com' WHERE id=1" {
		t.Fatalf("%%m prefix: %+v", m)
	}

	js := readAll(t, sample(t, "jsonlog.json"), JSON, "")
	if len(js) != 1 || js[0].User != "postgres" || js[0].Host != "127.0.0.1" || js[0].Port != "35680" || js[0].App != "psql" || js[0].PID != 28274 ||
		js[0].ObjectName != "public.accounts" || js[0].Time.Format(time.RFC3339Nano) != "2026-11-22T04:36:46.662Z" {
		t.Fatalf("jsonlog: %+v", js)
	}
}

func TestCSVAndParams(t *testing.T) {
	csvlog := `2026-11-22 05:00:00.123 UTC,"app","shop",4242,"10.0.0.7:51234",6b02715e.6e72,3,"SELECT",2026-11-22 04:59:00 UTC,3/7,0,LOG,00000,"AUDIT: OBJECT,7,1,READ,SELECT,TABLE,public.orders,""SELECT * FROM orders WHERE note = 'a,b' AND id = $1
  AND x = """"q"""""",""42,""""two,words""""""",,,,,,,,,"rails"
2026-11-22 05:00:01.000 UTC,"app","shop",4242,"10.0.0.7:51234",6b02715e.6e72,4,"idle",2026-11-22 04:59:00 UTC,3/8,0,LOG,00000,"connection authorized: user=app",,,,,,,,,"rails"
`
	es := readAll(t, []byte(csvlog), CSV, "")
	if len(es) != 1 {
		t.Fatalf("%d entries", len(es))
	}
	e := es[0]
	if e.AuditType != "OBJECT" || e.Class != "READ" || e.Host != "10.0.0.7" || e.Port != "51234" || e.App != "rails" || e.User != "app" ||
		e.Statement != "SELECT * FROM orders WHERE note = 'a,b' AND id = $1\n  AND x = \"\"q\"\"" && e.Statement != "SELECT * FROM orders WHERE note = 'a,b' AND id = $1\n  AND x = \"q\"" {
		t.Fatalf("csvlog entry: %+v", e)
	}
	if fmt.Sprint(e.Params) != "[42 two,words]" || e.ParamsNote != "" {
		t.Fatalf("parameters %q", e.Params)
	}
	ev := Event(&e, "pgaudit:main", "default", "postgresql.csv")
	if err := ev.Validate(); err != nil {
		t.Fatal(err)
	}
	if ev.Action != "select" || ev.Actor.ID != "app" || ev.Target.Type != "PostgreSQL::Table" || ev.Target.Schema != "public" || ev.Target.Table != "orders" || ev.Context.IP != "10.0.0.7" {
		t.Fatalf("event %+v %+v %+v", ev, ev.Actor, ev.Target)
	}
	line := ev.AppendJSON(nil)
	back, err := event.Decode(line)
	if err != nil {
		t.Fatalf("%v: %s", err, line)
	}
	if !strings.Contains(string(back.Meta), `"parameters":["42","two,words"]`) || !strings.Contains(string(back.Origin), `"offset":0`) {
		t.Fatalf("meta %s origin %s", back.Meta, back.Origin)
	}
	if again := Event(&e, "pgaudit:main", "default", "postgresql.csv"); again.ID != ev.ID {
		t.Fatal("the same entry got another id")
	}
}

// TestTail: a reader that is not Final stops before an entry that may go
// on, and a new reader from Offset picks it up whole.
func TestTail(t *testing.T) {
	p, _ := ParsePrefix(PrefixDebian)
	full := sample(t, "stderr-debian-default-prefix.log")
	cut := bytes.Index(full, []byte("\tpartially")) // the log written up to the continuation line
	r := NewReader(bytes.NewReader(full[:cut]), 0, Stderr, p, nil)
	n := 0
	for {
		var e Entry
		err := r.Next(&e)
		if errors.Is(err, ErrPartial) {
			break
		}
		if err != nil {
			t.Fatalf("after %d: %v", n, err)
		}
		n++
	}
	if n != 4 {
		t.Fatalf("%d whole entries before the cut, want 4", n)
	}
	off := r.Offset()
	r = NewReader(bytes.NewReader(full[off:]), off, Stderr, p, nil)
	r.Final()
	var e Entry
	if err := r.Next(&e); err != nil || e.Offset != off || !strings.Contains(e.Statement, "partially") {
		t.Fatalf("resumed at %d: %+v %v", off, e, err)
	}
}

func TestPrefixes(t *testing.T) {
	for _, c := range []struct{ prefix, line, want string }{
		{PrefixRDS, "2024-05-20 09:00:02 UTC:[local]:app@db:[17]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<none>", "[local]||app|db|17"},
		{PrefixRDS, "2024-05-20 09:00:02 UTC:2001:db8::1(5432):app@db:[17]:LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<none>", "2001:db8::1|5432|app|db|17"},
		{"%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ", "2024-05-20 09:00:02 JST [9]: [3-1] user=u,db=d,app=psql,client=10.1.2.3 LOG:  AUDIT: SESSION,1,1,READ,SELECT,,,SELECT 1,<none>", "10.1.2.3||u|d|9"},
	} {
		es := readAll(t, []byte(c.line+"\n"), Stderr, c.prefix)
		if len(es) != 1 {
			t.Fatalf("%s: %d entries", c.prefix, len(es))
		}
		e := es[0]
		if got := fmt.Sprintf("%s|%s|%s|%s|%d", e.Host, e.Port, e.User, e.Database, e.PID); got != c.want {
			t.Errorf("%s: %s, want %s", c.prefix, got, c.want)
		}
	}
	if _, err := ParsePrefix("%u%d"); err == nil {
		t.Error("two escapes in a row accepted")
	}
}

func BenchmarkStderr(b *testing.B) {
	line := []byte("2024-05-20 09:00:02 UTC:118.238.245.175(57617):postgres@hajimete_no_database:[1703]:LOG:  AUDIT: SESSION,2,1,WRITE,UPDATE,TABLE,public.orders,\"UPDATE orders SET status = 'shipped' WHERE id = 17\",<not logged>\n")
	data := bytes.Repeat(line, 10000)
	p, _ := ParsePrefix(PrefixRDS)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), 0, Stderr, p, nil)
		r.Final()
		var e Entry
		for r.Next(&e) == nil {
		}
	}
	b.ReportMetric(float64(b.N)*10000/b.Elapsed().Seconds(), "lines/s")
}

func benchFormat(b *testing.B, data []byte, f Format, lines int) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data), 0, f, nil, nil)
		r.Final()
		var e Entry
		for r.Next(&e) == nil {
		}
	}
	b.ReportMetric(float64(b.N)*float64(lines)/b.Elapsed().Seconds(), "lines/s")
}

func BenchmarkCSV(b *testing.B) {
	line := `2026-11-22 05:00:00.123 UTC,"app","shop",4242,"10.0.0.7:51234",6b02715e.6e72,3,"UPDATE",2026-11-22 04:59:00 UTC,3/7,0,LOG,00000,"AUDIT: SESSION,2,1,WRITE,UPDATE,TABLE,public.orders,""UPDATE orders SET status = 'shipped' WHERE id = 17"",<not logged>",,,,,,,,,"rails","client backend",,0` + "\n"
	benchFormat(b, bytes.Repeat([]byte(line), 10000), CSV, 10000)
}

func BenchmarkJSON(b *testing.B) {
	line := `{"timestamp":"2026-11-22 04:36:46.662 UTC","user":"app","dbname":"shop","pid":28274,"remote_host":"10.0.0.7","remote_port":35680,"session_id":"6b02715e.6e72","line_num":1,"ps":"UPDATE","session_start":"2026-11-22 04:36:46 UTC","vxid":"3/7","txid":725,"error_severity":"LOG","message":"AUDIT: SESSION,2,1,WRITE,UPDATE,TABLE,public.orders,\"UPDATE orders SET status = 'shipped' WHERE id = 17\",<not logged>","application_name":"rails","backend_type":"client backend","query_id":0}` + "\n"
	benchFormat(b, bytes.Repeat([]byte(line), 10000), JSON, 10000)
}

// BenchmarkMap: an entry to an event and its JSON line, as import does.
func BenchmarkMap(b *testing.B) {
	p, _ := ParsePrefix(PrefixRDS)
	line := []byte("2024-05-20 09:00:02 UTC:118.238.245.175(57617):postgres@hajimete_no_database:[1703]:LOG:  AUDIT: SESSION,2,1,WRITE,UPDATE,TABLE,public.orders,\"UPDATE orders SET status = 'shipped' WHERE id = 17\",<not logged>\n")
	r := NewReader(bytes.NewReader(line), 0, Stderr, p, nil)
	r.Final()
	var e Entry
	if err := r.Next(&e); err != nil {
		b.Fatal(err)
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = Event(&e, "pgaudit:main", "default", "postgresql.log").AppendJSON(buf[:0])
	}
}
