package cli

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kansa-audit/kansa/internal/chain"
	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/verify"
)

// stringsFlag is a repeatable string flag.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ",") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func runVerify(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify", stderr)
	var c common
	c.register(fs)
	since := fs.String("since", "", "check files with events from this `time` on (YYYY-MM-DD or RFC 3339)")
	until := fs.String("until", "", "check files with events before this `time`")
	tenant := fs.String("tenant", "", "check one tenant's files, log and checkpoints")
	var keyFiles, witnessFiles stringsFlag
	fs.Var(&keyFiles, "key", "trust only the verifier keys in this `file` (NAME+ID+KEY lines); repeatable")
	fs.Var(&witnessFiles, "checkpoint", "a signed checkpoint `file` kept elsewhere; the archive must extend it; repeatable")
	statePath := fs.String("state", "", "`file` remembering the newest verified checkpoints and keys (default <data>/verify-state.json; \"none\" to remember nothing)")
	format := fs.String("format", "table", "output: table or json")
	acceptNew := fs.Bool("accept-new-keys", false, "trust keys stored beside the checkpoints since the last run (a key rotation you made)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa verify [flags]\n\nChecks every archived file against its manifest's hashes and Merkle root,\nevery manifest against its writer's logs, and every log against its signed\ncheckpoints (docs/tamper-evidence.md). Exits 0 only when everything checks;\n1 names each problem.\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return &exitError{2, fmt.Errorf("--format %q: want table or json", *format)}
	}
	opt := verify.Options{Tenant: *tenant}
	if opt.Since, opt.Until, err = parseWindow(*since, *until); err != nil {
		return err
	}
	dir, err := filepath.Abs(cfg.Data)
	if err != nil {
		return err
	}
	if opt.Archive, opt.Checkpoints, err = openArchive(cfg, dir, stderr); err != nil {
		return err
	}
	for _, f := range keyFiles {
		keys, err := readKeys(f)
		if err != nil {
			return &exitError{2, err}
		}
		opt.Keys = append(opt.Keys, keys...)
	}
	if len(keyFiles) > 0 && len(opt.Keys) == 0 {
		return &exitError{2, errors.New("--key: no verifier key in the files given")}
	}
	if *statePath == "" {
		*statePath = filepath.Join(dir, "verify-state.json")
	}
	var st verifyState
	if *statePath != "none" {
		if st, err = loadVerifyState(*statePath); err != nil {
			return err
		}
	}
	var stateKeys []*chain.Verifier
	for _, k := range st.Keys {
		if v, err := chain.NewVerifier(k); err == nil {
			stateKeys = append(stateKeys, v)
		}
	}
	// Trust: the keys given with --key; else, on a first run, the keys
	// stored beside the checkpoints; after it, the keys remembered, and a
	// new stored key only with --accept-new-keys.
	trusted := opt.Keys
	var untrusted []string
	if trusted == nil {
		stored, err := chain.Keys(ctx, opt.Checkpoints)
		if err != nil {
			return err
		}
		trusted = stateKeys
		for _, k := range stored {
			switch {
			case slices.ContainsFunc(trusted, func(t *chain.Verifier) bool { return t.String() == k.String() }):
			case len(stateKeys) == 0 || *acceptNew:
				trusted = append(trusted, k)
			default:
				untrusted = append(untrusted, k.String())
			}
		}
		opt.Keys = trusted
	}
	for origin, w := range st.Checkpoints {
		root, err := base64.StdEncoding.DecodeString(w.Root)
		if err != nil || len(root) != len(merkle.Hash{}) {
			return fmt.Errorf("%s: checkpoint of %s: bad root", *statePath, origin)
		}
		opt.Witnesses = append(opt.Witnesses, verify.Witness{Origin: origin, Size: w.Size, Root: merkle.Hash(root),
			From: fmt.Sprintf("the checkpoint verified on %s (%s)", w.Verified, *statePath)})
	}
	for _, f := range witnessFiles {
		note, err := os.ReadFile(f)
		if err != nil {
			return &exitError{2, fmt.Errorf("--checkpoint: %w", err)}
		}
		cp, err := chain.OpenCheckpoint(note, trusted)
		if err != nil {
			return &exitError{1, fmt.Errorf("--checkpoint %s: %w", f, err)}
		}
		opt.Witnesses = append(opt.Witnesses, verify.Witness{Origin: cp.Origin, Size: cp.Size, Root: cp.Root, From: f})
	}
	if isTerminal(stderr) {
		var last time.Time
		opt.Progress = func(p verify.Progress) {
			if time.Since(last) < 200*time.Millisecond && p.Files < p.FilesTotal {
				return
			}
			last = time.Now()
			fmt.Fprintf(stderr, "\rverify: %d/%d files, %d events, %.1f MB", p.Files, p.FilesTotal, p.Events, float64(p.Bytes)/1e6)
			if p.Files == p.FilesTotal {
				fmt.Fprintln(stderr)
			}
		}
	}
	start := time.Now()
	rep, err := verify.Verify(ctx, opt)
	if err != nil {
		return err
	}
	took := time.Since(start)
	for _, k := range untrusted {
		rep.Notes = append(rep.Notes, fmt.Sprintf("key %s appeared beside the checkpoints after the last verify and is not trusted: checkpoints signed only by it fail; if it is a key rotation you made, run again with --accept-new-keys", k))
	}
	if len(stateKeys) == 0 && len(keyFiles) == 0 {
		for _, k := range trusted {
			rep.Notes = append(rep.Notes, fmt.Sprintf("trusting key %s, stored beside the checkpoints (first run; pin keys with --key)", k))
		}
	}
	if *format == "json" {
		out := struct {
			OK bool `json:"ok"`
			*verify.Report
			Seconds float64 `json:"seconds"`
		}{rep.OK(), rep, took.Seconds()}
		if out.Problems == nil {
			out.Problems = []verify.Problem{}
		}
		if out.Notes == nil {
			out.Notes = []string{}
		}
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		for _, p := range rep.Problems {
			fmt.Fprintf(stdout, "FAIL  %s\n", p)
		}
		for _, n := range rep.Notes {
			fmt.Fprintf(stdout, "note  %s\n", n)
		}
		verdict := "OK"
		if !rep.OK() {
			verdict = "FAILED: " + count(len(rep.Problems), "problem")
		}
		fmt.Fprintf(stdout, "%s: %s, %s, %s (%.1f MB) in %s, %s, checked in %s (%.0f events/s, %.1f MB/s)\n",
			verdict, count(rep.Manifests, "manifest"), count(rep.Files, "file"), count(int(rep.Events), "event"), float64(rep.Bytes)/1e6,
			count(rep.Logs, "log"), count(rep.Checkpoints, "checkpoint"),
			took.Round(time.Millisecond), float64(rep.Events)/took.Seconds(), float64(rep.Bytes)/1e6/took.Seconds())
	}
	if !rep.OK() {
		return &exitError{1, nil}
	}
	if *statePath != "none" && *tenant == "" {
		// Remember the newest checkpoints and the keys, so a later rollback of
		// the archive with its checkpoints shows.
		if st.Checkpoints == nil {
			st.Checkpoints = map[string]rememberedCheckpoint{}
		}
		now := time.Now().UTC().Format(time.RFC3339)
		for origin, w := range rep.Newest {
			if old, ok := st.Checkpoints[origin]; !ok || w.Size > old.Size {
				st.Checkpoints[origin] = rememberedCheckpoint{Size: w.Size, Root: base64.StdEncoding.EncodeToString(w.Root[:]), Verified: now}
			}
		}
		st.Keys = st.Keys[:0]
		for _, k := range rep.Keys {
			st.Keys = append(st.Keys, k.Text())
		}
		if err := saveVerifyState(*statePath, st); err != nil {
			// The verification stands; only the memory of it is lost.
			fmt.Fprintf(stderr, "kansa verify: could not remember the checkpoints verified (%v); pass --state FILE\n", err)
		}
	}
	return nil
}

// openArchive opens the archive and checkpoint stores of a data directory
// to read them, refusing a local archive that does not exist (a mistyped
// --data must not verify as an empty archive).
func openArchive(cfg config.Config, dir string, stderr io.Writer) (archive, checkpoints objstore.Store, err error) {
	if cfg.Archive.S3.Bucket == "" {
		loc := cfg.Archive.Location(dir)
		if _, err := os.Stat(loc); err != nil {
			return nil, nil, fmt.Errorf("no archive at %s (pass --data DIR, or --config FILE naming the archive)", loc)
		}
	}
	log := newLogger(stderr)
	if archive, err = node.OpenStore(cfg, dir, log); err != nil {
		return nil, nil, err
	}
	if checkpoints, err = node.OpenCheckpointStore(cfg, dir, archive, log); err != nil {
		return nil, nil, err
	}
	return archive, checkpoints, nil
}

// count is "1 file", "2 files".
func count(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// verifyState is what kansa verify remembers between runs.
type verifyState struct {
	Checkpoints map[string]rememberedCheckpoint `json:"checkpoints"`
	Keys        []string                        `json:"keys"`
}

type rememberedCheckpoint struct {
	Size     uint64 `json:"size"`
	Root     string `json:"root"`
	Verified string `json:"verified"`
}

func loadVerifyState(path string) (verifyState, error) {
	var st verifyState
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

func saveVerifyState(path string, st verifyState) error {
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readKeys reads verifier keys, one per line.
func readKeys(path string) ([]*chain.Verifier, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	var keys []*chain.Verifier
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := chain.NewVerifier(line)
		if err != nil {
			return nil, fmt.Errorf("--key %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// parseWindow reads --since and --until, each a day or an RFC 3339 time
// ("" leaves it zero).
func parseWindow(since, until string) (from, to time.Time, err error) {
	for _, t := range []struct {
		flag, v string
		t       *time.Time
	}{{"--since", since, &from}, {"--until", until, &to}} {
		if t.v == "" {
			continue
		}
		if *t.t, err = parseWhen(t.v); err != nil {
			return from, to, &exitError{2, fmt.Errorf("%s %q: want YYYY-MM-DD or an RFC 3339 time", t.flag, t.v)}
		}
	}
	return from, to, nil
}

// parseDays reads --since and --until as days, YYYY-MM-DD, UTC ("" leaves
// it zero).
func parseDays(since, until string) (from, to time.Time, err error) {
	for _, d := range []struct {
		flag, v string
		t       *time.Time
	}{{"--since", since, &from}, {"--until", until, &to}} {
		if d.v == "" {
			continue
		}
		if *d.t, err = time.Parse(time.DateOnly, d.v); err != nil {
			return from, to, &exitError{2, fmt.Errorf("%s %q: want a day, YYYY-MM-DD", d.flag, d.v)}
		}
	}
	return from, to, nil
}

// parseWhen reads a day or an RFC 3339 time.
func parseWhen(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

var _ flag.Value = (*stringsFlag)(nil)
