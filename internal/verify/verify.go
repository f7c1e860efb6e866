// Package verify checks an archive against its manifests, its logs and its
// signed checkpoints, and names what is wrong: which file, which event,
// which manifest, which checkpoint (docs/tamper-evidence.md).
//
// It trusts nothing in the archive but the signatures: every file is hashed
// again and its lines' Merkle root recomputed, every log is recomputed from
// the leaves its manifests list, and every checkpoint's root is compared
// with the recomputed log at its size. What a checkpoint kept elsewhere
// (a witness) says is checked the same way, so an archive rolled back with
// its checkpoints shows against it.
package verify

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/chain"
	"github.com/kansa-audit/kansa/internal/gunzip"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// Options says what to verify and against what.
type Options struct {
	Archive     objstore.Store
	Checkpoints objstore.Store // nil: Archive
	// Keys are the trusted verifier keys. Nil: the keys stored beside the
	// checkpoints, plus Remembered's.
	Keys []*chain.Verifier
	// Since and Until bound the files checked by their events' times (zero:
	// unbounded); Tenant keeps one tenant's files and logs. The logs and
	// checkpoints are always checked whole (they are small).
	Since, Until time.Time
	Tenant       string
	// Witnesses are checkpoints kept elsewhere (kansa verify --checkpoint,
	// and the newest ones an earlier run verified); the archive must extend
	// each.
	Witnesses []Witness
	// Workers read files in parallel. Default GOMAXPROCS.
	Workers int
	// Progress, when set, is called after each file, one call at a time.
	Progress func(Progress)
}

// Witness is a log's size and root as someone kept it.
type Witness struct {
	Origin string
	Size   uint64
	Root   merkle.Hash
	From   string // where it came from, for messages
}

// Progress counts what has been checked so far.
type Progress struct {
	Files, FilesTotal int
	Events            int64
	Bytes             int64
}

// Problem is one thing that does not check.
type Problem struct {
	Object string `json:"object"` // the file, manifest, log or checkpoint
	What   string `json:"what"`
}

func (p Problem) String() string { return p.Object + ": " + p.What }

// Report is what Verify found.
type Report struct {
	Manifests   int   `json:"manifests"`
	Files       int   `json:"files"` // read and checked: not those missing or expired
	Events      int64 `json:"events"`
	Bytes       int64 `json:"bytes"`
	Logs        int   `json:"logs"`
	Checkpoints int   `json:"checkpoints"`
	// Expired counts files deleted by retention, as its records say.
	Expired int `json:"expired_files"`
	// Problems make verification fail; Notes do not (leaves not yet
	// covered by a checkpoint, a batch being written).
	Problems []Problem `json:"problems"`
	Notes    []string  `json:"notes"`
	// Newest is the newest checkpoint verified for each log, by origin, for
	// the caller to remember; Keys the trusted keys.
	Newest map[string]Witness `json:"-"`
	Keys   []*chain.Verifier  `json:"-"`
}

// OK reports whether everything checked.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

type verifier struct {
	opt    Options
	rep    *Report
	mu     sync.Mutex
	listed map[string]bool // every file key a manifest lists
	roots  map[string]map[uint64]merkle.Hash
	sizes  map[string]uint64 // origin → leaves recomputed
	broken map[string]bool   // origin → its recomputation stopped at a problem
	// expired: manifest → the retention record that expired it; gone
	// counts, per record, the files found deleted.
	expired map[string]*archive.Retention
	gone    map[*archive.Retention]int
}

func (v *verifier) problem(object, format string, args ...any) {
	v.mu.Lock()
	v.rep.Problems = append(v.rep.Problems, Problem{object, fmt.Sprintf(format, args...)})
	v.mu.Unlock()
}

func (v *verifier) note(format string, args ...any) {
	v.mu.Lock()
	v.rep.Notes = append(v.rep.Notes, fmt.Sprintf(format, args...))
	v.mu.Unlock()
}

// Verify checks the archive and returns what it found. The error is for
// failures to read at all (a store down); what is wrong with the archive is
// in the report.
func Verify(ctx context.Context, opt Options) (*Report, error) {
	if opt.Checkpoints == nil {
		opt.Checkpoints = opt.Archive
	}
	v := &verifier{opt: opt, rep: &Report{Newest: map[string]Witness{}}, listed: map[string]bool{},
		roots: map[string]map[uint64]merkle.Hash{}, sizes: map[string]uint64{}, broken: map[string]bool{}}
	// Manifests are read here rather than through archive.EveryManifest,
	// so that one that does not parse is a problem named, not the end.
	var ms []*archive.Manifest
	err := opt.Archive.List(ctx, archive.ManifestPrefix, func(key string, _ int64) error {
		data, err := opt.Archive.Get(ctx, key)
		if err != nil {
			return err
		}
		m := new(archive.Manifest)
		if err := json.Unmarshal(data, m); err != nil || !strings.HasSuffix(key, ".json") || m.Version < 1 || m.Version > archive.ManifestVersion {
			v.problem(key, "not a manifest kansa wrote (%v): a manifest was changed or an object forged", cmp.Or(err, fmt.Errorf("version %d", m.Version)))
			return nil
		}
		if want := manifestKey(m); want != key {
			v.problem(key, "holds the manifest of %s: a manifest was copied or moved", want)
		}
		ms = append(ms, m)
		for _, f := range m.Files {
			v.listed[f.Key] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.rep.Manifests = len(ms)
	rs := map[string]*archive.Retention{}
	v.expired = map[string]*archive.Retention{}
	err = archive.Retentions(ctx, opt.Archive, archive.RetentionPrefix, func(key string, r *archive.Retention) error {
		rs[key] = r
		for _, m := range r.Expired {
			v.expired[m] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v.gone = map[*archive.Retention]int{}
	v.logs(ms, rs)
	if err := v.checkpoints(ctx); err != nil {
		return nil, err
	}
	if err := v.files(ctx, ms); err != nil {
		return nil, err
	}
	if err := v.unlisted(ctx, ms); err != nil {
		return nil, err
	}
	for r, n := range v.gone {
		v.rep.Expired += n
		v.note("%d files of %d batches of writer %s expired by policy (%s) on %s", n, len(r.Expired), r.Writer, r.Policy, r.At)
	}
	slices.SortStableFunc(v.rep.Problems, func(a, b Problem) int { return cmp.Compare(a.Object, b.Object) })
	return v.rep, nil
}

// logs recomputes every log from the leaves its manifests and retention
// records hold.
func (v *verifier) logs(ms []*archive.Manifest, rs map[string]*archive.Retention) {
	for _, m := range ms {
		if len(m.Logs) == 0 && m.Version < 2 {
			v.note("%s: manifest version %d, written before kansa chained batches; its files are checked against their SHA-256 only", manifestKey(m), m.Version)
			continue
		}
		for _, l := range archive.Logs(m.Files) {
			if !slices.ContainsFunc(m.Logs, func(e archive.LogEntry) bool { return e.Log == l }) {
				v.problem(manifestKey(m), "its files belong to log %s but it holds no leaf of that log: the manifest was changed", l)
			}
		}
	}
	all := chain.LeavesOf(ms, rs)
	byLog := map[string][]chain.LeafSource{}
	var origins []string
	for _, l := range all {
		o := l.OriginOf()
		if byLog[o] == nil {
			origins = append(origins, o)
		}
		byLog[o] = append(byLog[o], l)
	}
	for _, origin := range origins {
		if v.opt.Tenant != "" && !strings.HasSuffix(origin, "/tenant="+string(archive.AppendEscaped(nil, v.opt.Tenant))) {
			continue
		}
		v.rep.Logs++
		var f merkle.Frontier
		roots := map[uint64]merkle.Hash{}
		prev := ""
		for _, r := range byLog[origin] {
			if r.Entry.Index < f.Size {
				v.problem(r.Object, "claims leaf %d of log %s, which %s also claims: an object was copied or forged", r.Entry.Index, origin, prev)
				continue
			}
			if r.Entry.Index > f.Size {
				after := "the log's start"
				if prev != "" {
					after = prev
				}
				v.problem(origin, "%s missing: no manifest or retention record holds it (after %s, before %s); its batch's manifest was deleted", leafRange(f.Size, r.Entry.Index-1, true), after, r.Object)
				v.broken[origin] = true
				break
			}
			leaf := merkle.LeafHash(r.Text)
			if got := archive.HexHash(leaf); got != r.Entry.Leaf {
				what := "the manifest's files were changed after the batch was logged"
				if r.Retention != nil {
					what = "the retention record was changed after it was logged"
				}
				v.problem(r.Object, "what it lists hashes to leaf %s of log %s, but the log recorded %s: %s", short(got), origin, short(r.Entry.Leaf), what)
				if h, err := archive.ParseHash(r.Entry.Leaf); err == nil {
					leaf = h // go on with the leaf the log holds, to check the rest
				}
			}
			f.Append(leaf)
			roots[f.Size] = f.Root()
			if archive.HexHash(f.Root()) != r.Entry.Root || r.Entry.Size != f.Size {
				v.problem(r.Object, "log %s's root at size %d does not follow from the leaves before it: an object of an earlier leaf (%d or before) was rewritten", origin, r.Entry.Size, r.Entry.Index-1)
				v.broken[origin] = true
				break
			}
			prev = r.Object
		}
		v.roots[origin] = roots
		v.sizes[origin] = f.Size
	}
}

// plural is "1 leaf", "2 leaves".
func plural(n uint64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// leafRange names leaves a to b: "leaf 3 is", "leaves 3 to 5 are" (with
// the verb when verb is set).
func leafRange(a, b uint64, verb bool) string {
	s, is := fmt.Sprintf("leaves %d to %d", a, b), " are"
	if a == b {
		s, is = fmt.Sprintf("leaf %d", a), " is"
	}
	if verb {
		s += is
	}
	return s
}

func short(h string) string { return h[:min(len(h), 12)] + "…" }

var originRE = regexp.MustCompile(`^kansa/([^/]+)/(.+)$`)

// checkpoints checks every stored checkpoint's signature and root, and the
// witnesses.
func (v *verifier) checkpoints(ctx context.Context) error {
	keys := v.opt.Keys
	if keys == nil {
		var err error
		if keys, err = chain.Keys(ctx, v.opt.Checkpoints); err != nil {
			return err
		}
	}
	v.rep.Keys = keys
	newest := map[string]uint64{}
	failed := map[string]uint64{} // origin → the largest size of a checkpoint that failed
	err := v.opt.Checkpoints.List(ctx, chain.CheckpointPrefix+"writer=", func(key string, _ int64) error {
		writer, log, size, ok := chain.ParseCheckpointKey(key)
		if !ok {
			v.problem(key, "not a checkpoint's name (_kansa/checkpoints/writer=W/LOG/SIZE): a forged object")
			return nil
		}
		origin := chain.Origin(writer, log)
		if v.opt.Tenant != "" && log != "tenant="+string(archive.AppendEscaped(nil, v.opt.Tenant)) {
			return nil
		}
		v.rep.Checkpoints++
		ok = false
		defer func() {
			if !ok {
				failed[origin] = max(failed[origin], size)
			}
		}()
		note, err := v.opt.Checkpoints.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			v.problem(key, "no verifier key to check it with: none is stored under %s and none was given (--key)", chain.KeysPrefix)
			return nil
		}
		c, err := chain.OpenCheckpoint(note, keys)
		if err != nil {
			v.problem(key, "%v", err)
			return nil
		}
		if c.Origin != origin || c.Size != size {
			v.problem(key, "signed for %s at size %d, stored as %s at size %d: a checkpoint was moved", c.Origin, c.Size, origin, size)
			return nil
		}
		if ok = v.checkHead(key, origin, c.Size, c.Root, ""); ok && c.Size >= newest[origin] {
			newest[origin] = c.Size
			v.rep.Newest[origin] = Witness{Origin: origin, Size: c.Size, Root: c.Root, From: key}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, origin := range slices.Sorted(maps.Keys(v.sizes)) {
		n := v.sizes[origin]
		switch {
		case newest[origin] == 0 && n > 0:
			v.note("%s: none of its %s is covered by a checkpoint yet (one is signed every checkpoints.interval and at shutdown)", origin, plural(n, "leaf", "leaves"))
		case newest[origin] < n:
			v.note("%s: %s not yet covered by a checkpoint", origin, leafRange(newest[origin], n-1, true))
		}
	}
	for _, w := range v.opt.Witnesses {
		if v.opt.Tenant != "" && !strings.HasSuffix(w.Origin, "/tenant="+string(archive.AppendEscaped(nil, v.opt.Tenant))) {
			continue
		}
		if !v.checkHead(w.From, w.Origin, w.Size, w.Root, "witness ") {
			continue
		}
		// A stored checkpoint that failed above is the problem already
		// named; otherwise one short of the witness is a rollback.
		if newest[w.Origin] < w.Size && failed[w.Origin] < w.Size {
			v.problem(w.Origin, "its newest stored checkpoint is at size %d, but %s holds one at size %d: the checkpoints were rolled back", newest[w.Origin], w.From, w.Size)
		}
	}
	return nil
}

// checkHead compares a signed size and root with the recomputed log.
func (v *verifier) checkHead(object, origin string, size uint64, root merkle.Hash, what string) bool {
	n, known := v.sizes[origin]
	if !known {
		if m := originRE.FindStringSubmatch(origin); m == nil {
			v.problem(object, "%scheckpoint of %q, not a kansa log", what, origin)
			return false
		}
	}
	if size > n && v.broken[origin] {
		v.problem(object, "%scheckpoint covers %s of %s, which cannot be checked past the first %s: the log breaks there (named above)", what, plural(size, "leaf", "leaves"), origin, plural(n, "leaf", "leaves"))
		return false
	}
	if size > n {
		v.problem(object, "%scheckpoint covers %s of %s, the archive's manifests hold %d: the batches of %s, or their manifests, were deleted (or the archive was rolled back)", what, plural(size, "leaf", "leaves"), origin, n, leafRange(n, size-1, false))
		return false
	}
	if size == 0 {
		return true
	}
	if got := v.roots[origin][size]; got != root {
		v.problem(object, "%scheckpoint's root for %s at size %d differs from the archive's: a batch of leaf %d or before was changed after it was signed", what, origin, size, size-1)
		return false
	}
	return true
}

// files checks every file in range against its manifest.
func (v *verifier) files(ctx context.Context, ms []*archive.Manifest) error {
	type job struct {
		m *archive.Manifest
		f archive.File
	}
	var jobs []job
	for _, m := range ms {
		for _, f := range m.Files {
			if v.inRange(&f) {
				jobs = append(jobs, job{m, f})
			}
		}
	}
	workers := cmp.Or(v.opt.Workers, runtime.GOMAXPROCS(0))
	ch := make(chan job)
	var wg sync.WaitGroup
	var firstErr error
	var p Progress
	p.FilesTotal = len(jobs)
	for range workers {
		wg.Go(func() {
			c := newChecker()
			for j := range ch {
				events, n, read, err := c.check(ctx, v, j.m, &j.f)
				v.mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				p.Files++
				p.Events += events
				p.Bytes += n
				if read {
					v.rep.Files++
				}
				v.rep.Events += events
				v.rep.Bytes += n
				if v.opt.Progress != nil {
					v.opt.Progress(p)
				}
				v.mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	return cmp.Or(firstErr, ctx.Err())
}

func (v *verifier) inRange(f *archive.File) bool {
	if v.opt.Tenant != "" && (f.Kind != "events" || f.Tenant != v.opt.Tenant) {
		return false
	}
	if !v.opt.Since.IsZero() && f.TimeMax != "" {
		if t, err := time.Parse(time.RFC3339Nano, f.TimeMax); err == nil && t.Before(v.opt.Since) {
			return false
		}
	}
	if !v.opt.Until.IsZero() && f.TimeMin != "" {
		if t, err := time.Parse(time.RFC3339Nano, f.TimeMin); err == nil && !t.Before(v.opt.Until) {
			return false
		}
	}
	return true
}

// checker is one worker's reusable state.
type checker struct {
	dec    *gunzip.Decoder
	file   []byte // the file's bytes, reused
	out    []byte
	hasher *merkle.Hasher
	leaves []merkle.Hash
}

func newChecker() *checker { return &checker{dec: gunzip.NewDecoder(), hasher: merkle.NewHasher()} }

// check verifies one file and returns its events and bytes, and whether
// the file was there to read.
func (c *checker) check(ctx context.Context, v *verifier, m *archive.Manifest, f *archive.File) (_, _ int64, read bool, err error) {
	c.file, err = objstore.GetAppend(ctx, v.opt.Archive, f.Key, c.file[:0])
	data := c.file
	if errors.Is(err, objstore.ErrNotExist) {
		if r := v.expired[manifestKey(m)]; r != nil {
			v.mu.Lock()
			v.gone[r]++
			v.mu.Unlock()
			return 0, 0, false, nil
		}
		v.problem(f.Key, "missing: listed in %s with %d %s, not in the archive", manifestKey(m), f.Records, f.Kind)
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	sum := sha256.Sum256(data)
	shaOK := hex.EncodeToString(sum[:]) == f.SHA256
	if f.Format != archive.FormatNDJSON {
		if !shaOK {
			v.problem(f.Key, "its SHA-256 is %s, its manifest %s says %s: the %s file was changed", short(hex.EncodeToString(sum[:])), manifestKey(m), short(f.SHA256), f.Format)
		}
		return int64(f.Records), int64(len(data)), true, nil
	}
	// NDJSON: the events themselves, against the file's root.
	// Decompressed into the worker's own buffer, kept for the next file.
	var rerr error
	c.out, rerr = c.dec.Append(c.out[:0], data)
	if rerr != nil {
		// Only a file cut short leaves what came before its end as it
		// was. A changed byte decodes to anything up to where the
		// stream fails, often at the checksum after the last member's
		// end, so neither those lines nor their count say anything.
		switch {
		case errors.Is(rerr, io.ErrUnexpectedEOF):
			// Lines up to the cut; one cut short by it is not an event.
			lines := c.out[:bytes.LastIndexByte(c.out, '\n')+1]
			n := bytes.Count(lines, []byte{'\n'})
			v.problem(f.Key, "truncated: the gzip stream fails after event %d of %d%s (%v)", n, f.Records, eventID(lastLine(lines)), rerr)
			return int64(n), int64(len(data)), true, nil
		case errors.Is(rerr, gunzip.ErrChecksum):
			v.problem(f.Key, "damaged: what it decompresses to does not match its gzip checksum, so its compressed bytes were changed; its manifest lists %d %s (%v)", f.Records, f.Kind, rerr)
		default:
			v.problem(f.Key, "damaged: the gzip stream fails, so its compressed bytes were changed; its manifest lists %d %s (%v)", f.Records, f.Kind, rerr)
		}
		return 0, int64(len(data)), true, nil
	}
	c.leaves = c.hasher.AppendLeaves(c.leaves[:0], c.out)
	n := len(c.leaves)
	root := archive.HexHash(c.hasher.Root(c.leaves))
	switch {
	case n != f.Records:
		v.problem(f.Key, "holds %d %s, its manifest %s lists %d: %s", n, f.Kind, manifestKey(m), f.Records, map[bool]string{true: "events were deleted", false: "events were added"}[n < f.Records])
	case root != f.Root:
		v.problem(f.Key, "its %d %s do not hash to the root in %s: an event was changed, or events were reordered", n, f.Kind, manifestKey(m))
	case !shaOK:
		v.problem(f.Key, "its events match their root, but its bytes' SHA-256 differs from %s: the file was recompressed or its gzip header changed", manifestKey(m))
	}
	return int64(n), int64(len(data)), true, nil
}

// lastLine is the last line of data, lines ending in '\n'.
func lastLine(data []byte) []byte {
	data = bytes.TrimSuffix(data, []byte{'\n'})
	return data[bytes.LastIndexByte(data, '\n')+1:]
}

// eventID names the event line for messages.
func eventID(line []byte) string {
	if len(line) == 0 {
		return ""
	}
	if raw, ok := rawjson.Get(line, "id"); ok {
		if id, err := rawjson.Text(raw); err == nil {
			return " (the last whole one is " + strconv.Quote(id) + ")"
		}
	}
	return ""
}

// batchName reads the writer and range out of an archived file's name.
var batchName = regexp.MustCompile(`kansa-([A-Za-z0-9._-]+)-(\d{20})-(\d{20})\.[a-z.]+$`)

// unlisted finds files in the archive no manifest lists.
func (v *verifier) unlisted(ctx context.Context, ms []*archive.Manifest) error {
	newest := map[string]uint64{}
	for _, m := range ms {
		newest[m.Writer] = max(newest[m.Writer], m.Last)
	}
	return v.opt.Archive.List(ctx, "", func(key string, _ int64) error {
		if strings.HasPrefix(key, "_kansa/") || v.listed[key] {
			return nil
		}
		if m := batchName.FindStringSubmatch(key); m != nil {
			// Batches are written one after the other: only the one after
			// the writer's newest manifest can be under way.
			if first, _ := strconv.ParseUint(m[2], 10, 64); first == newest[m[1]]+1 {
				v.note("%s: not yet in a manifest (the writer's next batch being written, or one whose write failed and will be retried)", key)
				return nil
			}
		}
		v.problem(key, "not listed in any manifest: a file was added to the archive, or the manifest of its batch was deleted")
		return nil
	})
}

func manifestKey(m *archive.Manifest) string { return archive.ManifestKey(m.Writer, m.First, m.Last) }
