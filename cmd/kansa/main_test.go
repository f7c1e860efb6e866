package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// These tests run the real binary, as users and scripts do: they build it
// once, start it on loopback with temporary data directories, and kill it.

var kansaBin string

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "kansa-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kansaBin = filepath.Join(dir, "kansa")
	build := exec.Command("go", "build", "-o", kansaBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build kansa:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("process-level test; run without -short")
	}
}

// server is a running `kansa serve`.
type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *bytes.Buffer
}

// startServe starts kansa serve on a free loopback port and returns once it
// has printed where it listens (its listeners are open by then).
func startServe(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	args := append([]string{"serve", "--data", data, "--listen", "127.0.0.1:0"}, extra...)
	cmd := exec.Command(kansaBin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("kansa serve did not start: %v\n%s", err, stderr.String())
	}
	// "kansa listening on http://127.0.0.1:PORT, data in DIR"
	f := strings.Fields(line)
	if len(f) < 4 {
		t.Fatalf("unexpected first line %q", line)
	}
	go io.Copy(io.Discard, out)
	s := &server{cmd: cmd, url: strings.TrimSuffix(f[3], ","), stderr: &stderr}
	t.Cleanup(func() { // a test that failed before stopping it leaves no server behind
		if s.cmd.ProcessState == nil {
			s.kill()
		}
	})
	return s
}

func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Fatalf("kansa serve after SIGTERM: %v\n%s", err, s.stderr.String())
	}
}

func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// run runs a kansa command and returns its stdout.
func run(t *testing.T, stdin io.Reader, args ...string) ([]byte, error) {
	t.Helper()
	cmd := exec.Command(kansaBin, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.Bytes(), fmt.Errorf("kansa %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.Bytes(), nil
}

// archivedEvents reads every event line in the archive through its manifests.
func archivedEvents(t *testing.T, archiveDir string) []*event.Event {
	t.Helper()
	store, err := objstore.NewDir(archiveDir)
	if err != nil {
		t.Fatal(err)
	}
	return archivedIn(t, store)
}

// archivedIn returns every event of every manifest's NDJSON files in store.
func archivedIn(t *testing.T, store objstore.Store) []*event.Event {
	t.Helper()
	ctx := context.Background()
	var evs []*event.Event
	err := archive.Manifests(ctx, store, func(m *archive.Manifest) error {
		for _, f := range m.Files {
			if f.Kind != "events" || f.Format != archive.FormatNDJSON {
				continue
			}
			err := archive.ReadLines(ctx, store, f.Key, func(l []byte) error {
				e, err := event.Decode(bytes.Clone(l))
				if err != nil {
					return fmt.Errorf("%s: %w", f.Key, err)
				}
				evs = append(evs, e)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kansa.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
