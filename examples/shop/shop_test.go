package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"

	"gorm.io/gorm"

	"github.com/kansa-audit/kansa/audit"
)

// These tests run the shop against a real PostgreSQL (KANSA_TEST_PG, which
// bash scripts/test.sh starts) and a real kansa serve built from this
// repository.

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// database creates a fresh database on the test cluster and returns its DSN.
func database(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL; run without -short")
	}
	admin := os.Getenv("KANSA_TEST_PG")
	if admin == "" {
		t.Fatal(`KANSA_TEST_PG is not set: run bash scripts/test.sh, or start a cluster with eval "$(bash scripts/pg.sh start)"`)
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	name := "shop_" + hex.EncodeToString(b)
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		db.Close()
	})
	return strings.Replace(admin, "/postgres?", "/"+name+"?", 1)
}

var (
	kansaOnce sync.Once
	kansaBin  string
	kansaErr  error
)

func buildKansa(t testing.TB) string {
	t.Helper()
	kansaOnce.Do(func() {
		dir, err := os.MkdirTemp("", "shop-kansa-")
		if err != nil {
			kansaErr = err
			return
		}
		kansaBin = filepath.Join(dir, "kansa")
		cmd := exec.Command("go", "build", "-o", kansaBin, "./cmd/kansa")
		cmd.Dir = "../.."
		if out, err := cmd.CombinedOutput(); err != nil {
			kansaErr = fmt.Errorf("build kansa: %v\n%s", err, out)
		}
	})
	if kansaErr != nil {
		t.Fatal(kansaErr)
	}
	return kansaBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if kansaBin != "" {
		os.RemoveAll(filepath.Dir(kansaBin))
	}
	os.Exit(code)
}

// startKansa runs kansa serve on addr until the test ends.
func startKansa(t testing.TB, data, addr string) {
	t.Helper()
	cmd := exec.Command(buildKansa(t), "serve", "--data", data, "--listen", addr)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("kansa serve did not start: %v\n%s", err, errb.String())
	}
	go io.Copy(io.Discard, out)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// client is a user of the shop with a cookie jar.
type client struct {
	t    testing.TB
	base string
	hc   *http.Client
}

func newClient(t testing.TB, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, hc: &http.Client{Jar: jar}}
}

func (c *client) do(method, path, body string, hdr ...string) (int, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func searchKansa(t testing.TB, data, q string) []map[string]any {
	t.Helper()
	cmd := exec.Command(buildKansa(t), "search", "--data", data, "--format", "json", "--limit", "0", q)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kansa search: %v\n%s", err, errb.String())
	}
	var evs []map[string]any
	d := json.NewDecoder(&out)
	for d.More() {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, m)
	}
	return evs
}

func TestShopRecordsEverythingInKansa(t *testing.T) {
	dsn := database(t)
	data, addr := t.TempDir(), freeAddr(t)
	startKansa(t, data, addr)
	app, err := Open(Config{DatabaseURL: dsn, KansaURL: "http://" + addr, SpoolDir: t.TempDir(), Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	u := newClient(t, srv.URL)
	steps := []struct {
		method, path, body string
		status             int
	}{
		{"POST", "/login", `{"email":"ayu@example.com","password":"nope"}`, 401},
		{"POST", "/products", `{"name":"Tea"}`, 401},
		{"POST", "/login", `{"email":"ayu@example.com","password":"correct horse"}`, 200},
		{"POST", "/products", `{"name":"Tea","price_cents":1200,"stock":5}`, 201},
		{"PATCH", "/products/1", `{"price_cents":1350,"note":"autumn"}`, 200},
		{"PATCH", "/products/1", `{"price_cents":1350}`, 200}, // nothing changed: no event
		{"DELETE", "/products/1", ``, 204},
		{"POST", "/logout", ``, 204},
	}
	for _, s := range steps {
		if code, body := u.do(s.method, s.path, s.body, "X-Request-Id", "req-"+s.method+s.path); code != s.status {
			t.Fatalf("%s %s: %d %s", s.method, s.path, code, body)
		}
	}
	srv.Close()
	if err := app.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := searchKansa(t, data, "source:app:shop")
	var got []string
	byAction := map[string]map[string]any{}
	for i := len(evs) - 1; i >= 0; i-- { // oldest first
		ev := evs[i]
		a := ev["action"].(string)
		if a == audit.ActionHeartbeat {
			continue
		}
		got = append(got, a+"/"+fmt.Sprint(ev["outcome"]))
		byAction[a] = ev
	}
	want := []string{"create/success", "user.login/failure", "user.login/success", "create/success", "update/success", "delete/success", "user.logout/success"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("events\n got %v\nwant %v", got, want)
	}
	up := byAction["update"]
	if ch, _ := json.Marshal(up["changes"]); string(ch) != `{"note":["","autumn"],"price_cents":[1200,1350]}` {
		t.Fatalf("update changes %s", ch)
	}
	c := up["context"].(map[string]any)
	if c["endpoint"] != "PATCH /products/{id}" || c["request_id"] != "req-PATCH/products/1" || c["ip"] != "127.0.0.1" {
		t.Fatalf("update context %v", c)
	}
	if a := up["actor"].(map[string]any); a["type"] != "User" || a["id"] != "1" {
		t.Fatalf("update actor %v", a)
	}
	if tg := up["target"].(map[string]any); tg["type"] != "Product" || tg["id"] != "1" || tg["table"] != "products" {
		t.Fatalf("update target %v", tg)
	}
	seed := evs[len(evs)-1]
	for seed["action"] == audit.ActionHeartbeat {
		t.Fatal("oldest event is a heartbeat")
	}
	sc, _ := json.Marshal(seed["changes"])
	if !strings.Contains(string(sc), `"password_hash":"[REDACTED]"`) || strings.Contains(string(sc), "salt") {
		t.Fatalf("seeded user's changes %s", sc)
	}
}

// auditsTable is the baseline kansa replaces: what Ruby's audited gem does,
// one row per change in the application's own database, written by a
// callback inside the change's transaction.
func auditsTable(db *gorm.DB, _ *audit.Logger) error {
	if err := db.Exec(`CREATE TABLE IF NOT EXISTS audits (
		id bigserial PRIMARY KEY,
		auditable_id text, auditable_type text,
		user_id text, user_type text,
		action text, audited_changes jsonb,
		remote_address text, request_uuid text,
		created_at timestamptz NOT NULL DEFAULT now())`).Error; err != nil {
		return err
	}
	write := func(action string) func(*gorm.DB) {
		return func(tx *gorm.DB) {
			if tx.Error != nil || tx.Statement.Schema == nil || tx.Statement.Schema.Table == "audits" {
				return
			}
			ctx := tx.Statement.Context
			s := audit.ScopeFrom(ctx)
			changes, _ := json.Marshal(tx.Statement.Dest)
			var id any
			if pk := tx.Statement.Schema.PrioritizedPrimaryField; pk != nil && tx.Statement.ReflectValue.Kind() == reflect.Struct {
				id, _ = pk.ValueOf(ctx, tx.Statement.ReflectValue)
			}
			_, err := tx.Statement.ConnPool.ExecContext(ctx,
				`INSERT INTO audits (auditable_id, auditable_type, user_id, user_type, action, audited_changes, remote_address, request_uuid)
				 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
				fmt.Sprint(id), tx.Statement.Schema.Name, s.Actor.ID, s.Actor.Type, action, string(changes), s.IP, s.RequestID)
			if err != nil {
				tx.AddError(fmt.Errorf("write audit row: %w", err))
			}
		}
	}
	cb := db.Callback()
	return errorsJoin(
		cb.Create().After("gorm:create").Register("audited:create", write("create")),
		cb.Update().After("gorm:update").Register("audited:update", write("update")),
		cb.Delete().After("gorm:delete").Register("audited:delete", write("destroy")),
	)
}

func errorsJoin(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
