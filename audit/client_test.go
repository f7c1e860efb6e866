package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests run the real kansa: they build ./cmd/kansa from this
// repository once and start it on loopback, as an application's operators
// would.

var kansaBin string

func needKansa(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test with a real kansa serve; run without -short")
	}
	if kansaBin != "" {
		return
	}
	dir, err := os.MkdirTemp("", "audit-kansa-bin-")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "kansa")
	build := exec.Command("go", "build", "-o", bin, "./cmd/kansa")
	build.Dir = ".." // the repository root: the server's module
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build kansa: %v\n%s", err, out)
	}
	kansaBin = bin
}

func TestMain(m *testing.M) {
	if os.Getenv("AUDIT_TEST_CHILD") != "" {
		os.Exit(childApp())
	}
	code := m.Run()
	if kansaBin != "" {
		os.RemoveAll(filepath.Dir(kansaBin))
	}
	os.Exit(code)
}

// kansaServer is a running kansa serve.
type kansaServer struct {
	cmd  *exec.Cmd
	data string
	addr string
	errb *syncBuffer
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startKansa(t *testing.T, data, addr string, args ...string) *kansaServer {
	t.Helper()
	cmd := exec.Command(kansaBin, append([]string{"serve", "--data", data, "--listen", addr}, args...)...)
	errb := &syncBuffer{}
	cmd.Stderr = errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil { // "kansa listening on …"
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("kansa serve did not start: %v\n%s", err, errb.String())
	}
	go io.Copy(io.Discard, out)
	s := &kansaServer{cmd: cmd, data: data, addr: addr, errb: errb}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func (s *kansaServer) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("kansa serve after SIGTERM: %v\n%s", err, s.errb.String())
	}
}

// search runs kansa search over the data directory and returns the events.
func searchKansa(t *testing.T, data, query string) []map[string]any {
	t.Helper()
	cmd := exec.Command(kansaBin, "search", "--data", data, "--format", "json", "--limit", "0", query)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("kansa search: %v\n%s", err, errb.String())
	}
	var evs []map[string]any
	d := json.NewDecoder(&out)
	d.UseNumber()
	for d.More() {
		var m map[string]any
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		evs = append(evs, m)
	}
	return evs
}

// waitFor polls cond (a counter kept by the code under test) until it
// holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newClientLogger(t *testing.T, url, spool string, ccfg ClientConfig) (*Logger, *Client) {
	t.Helper()
	ccfg.URL, ccfg.SpoolDir = url, spool
	if ccfg.Logger == nil {
		ccfg.Logger = quiet()
	}
	if ccfg.MaxBackoff == 0 {
		ccfg.MaxBackoff = 200 * time.Millisecond
	}
	c, err := NewClient(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Output: c, Source: "app:shop", Logger: quiet(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	return l, c
}

// checkStream asserts that kansa holds events 1..n of stream exactly once.
func checkStream(t *testing.T, evs []map[string]any, stream string, n int) {
	t.Helper()
	seen := make(map[string]int)
	for _, ev := range evs {
		sq, _ := ev["seq"].(map[string]any)
		if sq == nil || sq["stream"] != stream || ev["action"] == ActionHeartbeat {
			continue
		}
		seen[sq["n"].(json.Number).String()]++
	}
	for i := 1; i <= n; i++ {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Fatalf("event %d of stream %s found %d times in kansa", i, stream, c)
		}
	}
	if len(seen) != n {
		t.Fatalf("kansa has %d events of the stream, want %d", len(seen), n)
	}
}

func TestClientDeliversToKansa(t *testing.T) {
	needKansa(t)
	data, addr := t.TempDir(), freeAddr(t)
	startKansa(t, data, addr)
	l, c := newClientLogger(t, "http://"+addr, t.TempDir(), ClientConfig{})
	ctx := WithScope(context.Background(), Scope{Actor: Actor{Type: "User", ID: "42"}, RequestID: "r-deliver"})
	const n = 2000
	for i := 0; i < n; i++ {
		l.Record(ctx, Event{Action: ActionUpdate, Target: Target{Type: "Order", ID: strconv.Itoa(i)},
			Changes: []Change{Diff("total", i, i+1)}})
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Sent != n+1 || st.Rejected != 0 || st.SpoolBytes != 0 { // +1: the heartbeat at close
		t.Fatalf("client stats %+v", st)
	}
	evs := searchKansa(t, data, "request_id:r-deliver")
	checkStream(t, evs, l.Stream(), n)
	if a := evs[0]["actor"].(map[string]any); a["id"] != "42" {
		t.Fatalf("actor %v", a)
	}
}

func TestClientRidesOutAnOutage(t *testing.T) {
	needKansa(t)
	data, addr, spoolDir := t.TempDir(), freeAddr(t), t.TempDir()
	// Small segments: the outage spans many, and delivered ones are removed.
	l, c := newClientLogger(t, "http://"+addr, spoolDir, ClientConfig{SegmentBytes: 8 << 10})
	defer l.Close(context.Background())
	// kansa is down: recording still returns at once and Flush makes the
	// events durable in the spool.
	const n = 500
	start := time.Now()
	for i := 0; i < n; i++ {
		l.Record(context.Background(), Event{Action: ActionLogin, Actor: Actor{Type: "User", ID: strconv.Itoa(i)}})
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events recorded and spooled with kansa down in %v", n, time.Since(start))
	waitFor(t, "a failed delivery attempt", 10*time.Second, func() bool { return c.Stats().Failures > 0 })
	if st := c.Stats(); st.Sent != 0 || st.SpoolBytes == 0 {
		t.Fatalf("stats while down %+v", st)
	}
	startKansa(t, data, addr)
	waitFor(t, "delivery after kansa came back", 30*time.Second, func() bool { return c.Stats().Sent == n })
	checkStream(t, searchKansa(t, data, "action:user.login"), l.Stream(), n)
	segs, _ := filepath.Glob(filepath.Join(spoolDir, "*.ndjson"))
	if len(segs) != 1 || c.Stats().SpoolBytes != 0 {
		t.Fatalf("after delivery the spool holds %v (%d bytes); want only the segment being written", segs, c.Stats().SpoolBytes)
	}
}

func TestClientSpoolFullIsCountedNotSilent(t *testing.T) {
	addr := freeAddr(t) // nothing listens: every attempt fails
	var logs syncBuffer
	c, err := NewClient(ClientConfig{URL: "http://" + addr, SpoolDir: t.TempDir(), MaxSpoolBytes: 4096,
		MaxBackoff: time.Second, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Config{Output: c, Logger: slogTo(&logs), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		l.Record(context.Background(), Event{Action: "a"})
	}
	l.Flush(context.Background())
	st := l.Stats()
	if st.Output.SpoolFull == 0 || st.Dropped != st.Output.SpoolFull || st.Written+st.Dropped != 100 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(logs.String(), "spool full") {
		t.Fatalf("no log line: %s", logs.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := l.Close(ctx); !errors.Is(err, ErrUndelivered) {
		t.Fatalf("Close with events left: %v", err)
	}
}

func TestClientRefusesABadURL(t *testing.T) {
	for _, u := range []string{"127.0.0.1:7700", "ftp://x", "http://", "kansa"} {
		if _, err := NewClient(ClientConfig{URL: u, SpoolDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "http(s)") {
			t.Errorf("URL %q: %v", u, err)
		}
	}
}

func TestClientSplitsBatchesKansaFindsTooLarge(t *testing.T) {
	needKansa(t)
	data, addr := t.TempDir(), freeAddr(t)
	cfg := filepath.Join(t.TempDir(), "kansa.yaml")
	if err := os.WriteFile(cfg, []byte("server:\n  max_body_bytes: 20000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	startKansa(t, data, addr, "--config", cfg)
	l, c := newClientLogger(t, "http://"+addr, t.TempDir(), ClientConfig{BatchBytes: 1 << 20})
	const n = 300 // ~90 kB of events: several requests under kansa's 20 kB limit
	for i := 0; i < n; i++ {
		l.Record(context.Background(), Event{Action: "a.b", Meta: map[string]any{"pad": strings.Repeat("x", 200)}})
	}
	l.Close(context.Background())
	if st := c.Stats(); st.Sent != n+1 || st.Rejected != 0 || st.Attempts < 5 {
		t.Fatalf("stats %+v (want several requests after the 413)", st)
	}
	checkStream(t, searchKansa(t, data, "action:a.b"), l.Stream(), n)
}

// TestClientSpoolSurvivesAKill kills an application process right after
// its Flush returned, with kansa down; a new process on the same spool
// delivers every event.
func TestClientSpoolSurvivesAKill(t *testing.T) {
	needKansa(t)
	data, addr, spool := t.TempDir(), freeAddr(t), t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe, "-test.run=^$")
	child.Env = append(os.Environ(), "AUDIT_TEST_CHILD=1", "AUDIT_TEST_URL=http://"+addr, "AUDIT_TEST_SPOOL="+spool)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	var stream string
	var n int
	if _, err := fmt.Sscanf(line, "flushed %s %d", &stream, &n); err != nil {
		t.Fatalf("child said %q: %v", line, err)
	}
	child.Process.Signal(syscall.SIGKILL)
	child.Wait()

	startKansa(t, data, addr)
	l, c := newClientLogger(t, "http://"+addr, spool, ClientConfig{})
	waitFor(t, "the dead process's events", 30*time.Second, func() bool { return c.Stats().Sent >= uint64(n) })
	l.Close(context.Background())
	checkStream(t, searchKansa(t, data, "action:job.step"), stream, n)
}

// childApp records events with kansa down, flushes, says so and waits to
// be killed.
func childApp() int {
	c, err := NewClient(ClientConfig{URL: os.Getenv("AUDIT_TEST_URL"), SpoolDir: os.Getenv("AUDIT_TEST_SPOOL"), Logger: quiet(),
		SegmentBytes: 16 << 10}) // many segments for the next process to read
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := New(Config{Output: c, Logger: quiet(), HeartbeatInterval: -1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	const n = 3000
	ctx := Job(context.Background(), Actor{Type: "service", ID: "nightly"})
	for i := 0; i < n; i++ {
		l.Record(ctx, Event{Action: "job.step", Meta: map[string]any{"i": i}})
		if i == n/2 {
			l.Flush(ctx) // some synced early, some later
		}
	}
	if err := l.Flush(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("flushed %s %d\n", l.Stream(), n)
	select {} // until killed
}

// TestLinesRouteThroughKansaRoute writes events as JSON lines — directly
// and through a slog JSON handler — mixed with application logs, and has
// kansa route archive the events and pass the logs through.
func TestLinesRouteThroughKansaRoute(t *testing.T) {
	needKansa(t)
	path := filepath.Join(t.TempDir(), "app.log")
	out, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := New(Config{Output: out, Source: "app:shop", Logger: quiet(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	appLog := slog.New(NewSlogHandler(slog.NewJSONHandler(f, nil)))
	viaSlog, err := New(Config{Output: NewSlogOutput(slog.NewJSONHandler(f, nil), slog.LevelInfo),
		Source: "app:shop", Logger: quiet(), HeartbeatInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithScope(context.Background(), Scope{RequestID: "r-route", Actor: Actor{Type: "User", ID: "5"}})
	for i := 0; i < 50; i++ {
		plain.Record(ctx, Event{Action: ActionUpdate, Target: Target{Type: "Order", ID: strconv.Itoa(i)}})
		plain.Flush(ctx)
		appLog.InfoContext(ctx, "order updated", "order", i)
		viaSlog.Record(ctx, Event{Action: ActionSecretView, Target: Target{Type: "Secret", ID: strconv.Itoa(i)}})
		viaSlog.Flush(ctx)
	}
	plain.Close(ctx)
	viaSlog.Close(ctx)
	f.Close()

	data := t.TempDir()
	in, _ := os.Open(path)
	defer in.Close()
	cmd := exec.Command(kansaBin, "route", "--data", data)
	cmd.Stdin = in
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kansa route: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(stdout.String(), `"msg":"order updated"`); n != 50 {
		t.Fatalf("%d application log lines passed through, want 50\n%s", n, stdout.String())
	}
	if strings.Contains(stdout.String(), Schema) {
		t.Fatal("an audit event went to the application log")
	}
	if !strings.Contains(stdout.String(), `"request_id":"r-route"`) {
		t.Fatal("application logs lack the request id")
	}
	checkStream(t, searchKansa(t, data, "action:update"), plain.Stream(), 50)
	checkStream(t, searchKansa(t, data, "action:secret.view request_id:r-route"), viaSlog.Stream(), 50)
}
