package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/kansa-audit/kansa/audit"
)

// Side by side, in one run: the same change through the same GORM code,
// recorded three ways —
//
//	no audit     the change alone: the floor
//	audits table an audits row in the same transaction (Ruby's audited)
//	SDK          the gormaudit plugin and a Client spooling for kansa
//
// go test -run '^$' -bench . -benchtime 3000x ./examples/shop   (KANSA_TEST_PG set)

type mode struct {
	name    string
	install func(*gorm.DB, *audit.Logger) error
	client  bool // an audit.Client to kansa (else the output is discarded)
}

var modes = []mode{
	{"no audit", func(*gorm.DB, *audit.Logger) error { return nil }, false},
	{"audits table", auditsTable, false},
	{"SDK", openInstall, true}, // as Open installs it
}

// benchApp opens the shop for a benchmark; kansaURL "" means kansa is down
// (nothing listens: the Client keeps everything in its spool).
func benchApp(b *testing.B, m mode, kansaURL string) *App {
	b.Helper()
	cfg := Config{DatabaseURL: database(b), Logger: quiet()}
	if m.client {
		url := kansaURL
		if url == "" {
			url = "http://" + freeAddr(b) // nothing listens there
		}
		c, err := audit.NewClient(audit.ClientConfig{URL: url, SpoolDir: b.TempDir(), Logger: quiet(),
			MaxSpoolBytes: 4 << 30})
		if err != nil {
			b.Fatal(err)
		}
		cfg.Output = c
	} else {
		cfg.Output = audit.NewWriterOutput(discardWriter{})
	}
	app, err := open(cfg, m.install)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		app.Close(ctx)
	})
	return app
}

// BenchmarkChange is one update of a loaded product (two of its columns
// change) in its own transaction, as a handler does it. cpu-µs/change is
// this process's CPU (user + system, every goroutine: GORM, the driver and,
// for the SDK, capture, diff, encoding and the spool's writes and fsyncs);
// pg-cpu-µs/change is the PostgreSQL server's.
func BenchmarkChange(b *testing.B) {
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			app := benchApp(b, m, "")
			ctx := audit.WithScope(context.Background(), audit.Scope{Actor: audit.Actor{Type: "User", ID: "1"},
				RequestID: "bench", Endpoint: "PATCH /products/{id}", IP: "127.0.0.1"})
			db := app.db.WithContext(ctx)
			p := Product{Name: "Tea", PriceCents: 100, Stock: 5}
			if err := db.Create(&p).Error; err != nil {
				b.Fatal(err)
			}
			pg := newPGCPU(b)
			cpu0, pg0 := procCPU(), pg.now()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				var q Product
				if err := db.First(&q, p.ID).Error; err != nil {
					b.Fatal(err)
				}
				i++
				q.PriceCents, q.Stock = int64(100+i), i%50
				if err := db.Save(&q).Error; err != nil {
					b.Fatal(err)
				}
			}
			if err := app.audit.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			cpu, pgc := procCPU()-cpu0, pg.now()-pg0
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/change")
			b.ReportMetric(float64(pgc.Microseconds())/float64(b.N), "pg-cpu-µs/change")
			if d := app.audit.Stats().Dropped; d != 0 {
				b.Fatalf("%d events dropped", d)
			}
		})
	}
}

// BenchmarkRequest is PATCH /products/{id} over HTTP from 4 clients at
// once: the latency an application's user sees, with the audit log kept
// each way, and for the SDK with kansa up and with kansa down.
func BenchmarkRequest(b *testing.B) {
	type variant struct {
		mode
		kansaUp bool
	}
	for _, v := range []variant{{modes[0], false}, {modes[1], false}, {modes[2], true}, {modes[2], false}} {
		name := v.name
		if v.client {
			name += map[bool]string{true: ", kansa up", false: ", kansa down"}[v.kansaUp]
		}
		b.Run(name, func(b *testing.B) {
			kansaURL := ""
			if v.kansaUp {
				addr := freeAddr(b)
				startKansa(b, b.TempDir(), addr)
				kansaURL = "http://" + addr
			}
			app := benchApp(b, v.mode, kansaURL)
			const products = 64
			for i := 0; i < products; i++ {
				if err := app.db.Create(&Product{Name: "p" + strconv.Itoa(i), PriceCents: 100}).Error; err != nil {
					b.Fatal(err)
				}
			}
			srv := httptest.NewServer(app.Handler())
			defer srv.Close()
			const clients = 4
			users := make([]*client, clients)
			for i := range users {
				users[i] = newClient(b, srv.URL)
				if code, _ := users[i].do("POST", "/login", `{"email":"ayu@example.com","password":"correct horse"}`); code != 200 {
					b.Fatal("login failed")
				}
			}
			var mu sync.Mutex
			var lat []time.Duration
			next := make(chan int)
			var wg sync.WaitGroup
			for c := 0; c < clients; c++ {
				wg.Add(1)
				go func(u *client, c int) {
					defer wg.Done()
					var mine []time.Duration
					for i := range next {
						// Each client its own products: no row lock contention.
						id := 1 + c + clients*(i%(products/clients))
						t0 := time.Now()
						code, body := u.do("PATCH", "/products/"+strconv.Itoa(id), fmt.Sprintf(`{"price_cents":%d,"note":"n%d"}`, 100+i, i))
						mine = append(mine, time.Since(t0))
						if code != 200 {
							b.Errorf("PATCH: %d %s", code, body)
						}
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				}(users[c], c)
			}
			start := time.Now()
			for i := 0; b.Loop(); i++ {
				next <- i
			}
			close(next)
			wg.Wait()
			elapsed := time.Since(start)
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
			if st := app.audit.Stats(); st.Dropped != 0 {
				b.Fatalf("%d events dropped", st.Dropped)
			}
		})
	}
}

// BenchmarkAuditsTableInsert is the baseline's raw rate: single-row audit
// inserts from one client, each its own transaction.
func BenchmarkAuditsTableInsert(b *testing.B) {
	app := benchApp(b, modes[1], "")
	sqlDB, _ := app.db.DB()
	start := time.Now()
	for b.Loop() {
		if _, err := sqlDB.Exec(`INSERT INTO audits (auditable_id, auditable_type, user_id, user_type, action, audited_changes, remote_address, request_uuid)
			VALUES ('17', 'Product', '1', 'User', 'update', '{"price_cents":[100,101]}', '127.0.0.1', 'r-1')`); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "inserts/s")
}

func procCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// pgCPU sums the CPU time of the test cluster's postmaster and backends
// (from KANSA_TEST_PGDIR/data/postmaster.pid and /proc).
type pgCPU struct{ postmaster string }

func newPGCPU(b *testing.B) pgCPU {
	dir := os.Getenv("KANSA_TEST_PGDIR")
	raw, err := os.ReadFile(filepath.Join(dir, "data", "postmaster.pid"))
	if err != nil {
		b.Logf("PostgreSQL CPU not measured: %v", err)
		return pgCPU{}
	}
	return pgCPU{postmaster: strings.SplitN(string(raw), "\n", 2)[0]}
}

func (p pgCPU) now() time.Duration {
	if p.postmaster == "" {
		return 0
	}
	ents, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range ents {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(raw)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// after "pid (comm) ": state ppid … utime is field 14, stime 15 (1-based, whole line)
		if len(f) < 13 || (e.Name() != p.postmaster && f[1] != p.postmaster) {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}
