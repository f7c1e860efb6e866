package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/chain"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/rawjson"
)

// Proof shows that one archived event is in a log under a signed
// checkpoint. Checking it needs nothing but SHA-256, Ed25519 and the
// checkpoint's public key (docs/tamper-evidence.md gives the procedure).
type Proof struct {
	// Event is the event's line exactly as stored.
	Event string `json:"event"`
	// File is the archived file that holds it, the event's position in it
	// and the file's line count: the Merkle tree the path climbs.
	File      string   `json:"file"`
	FileIndex uint64   `json:"file_index"`
	FileSize  uint64   `json:"file_size"`
	FilePath  []string `json:"file_path"`
	// BatchLeaf is the text of the batch's leaf in the log; one of its
	// lines names File with the file's root.
	BatchLeaf string `json:"batch_leaf"`
	// The leaf's position in the log and the path to the checkpoint's root.
	LogIndex uint64   `json:"log_index"`
	LogSize  uint64   `json:"log_size"`
	LogPath  []string `json:"log_path"`
	// Checkpoint is the signed note; Key the verifier key that signed it
	// (to be compared with one obtained independently).
	Checkpoint string `json:"checkpoint"`
	Key        string `json:"key,omitempty"`
}

// ProveOptions finds the event and the checkpoint.
type ProveOptions struct {
	Archive, Checkpoints objstore.Store
	Keys                 []*chain.Verifier // to check the checkpoint chosen; nil: the stored keys
	ID                   string
	// Since and Until narrow the search to files with events in range.
	Since, Until time.Time
}

// ErrNoEvent: no archived event has the id.
var ErrNoEvent = errors.New("no archived event has this id")

// Prove builds the proof of the event with id opt.ID against the newest
// checkpoint that covers its batch.
func Prove(ctx context.Context, opt ProveOptions) (*Proof, error) {
	if opt.Checkpoints == nil {
		opt.Checkpoints = opt.Archive
	}
	// Every manifest and retention record, read once: the live batches are
	// searched for the event, all of them give the log's leaves.
	var ms []*archive.Manifest
	if err := archive.EveryManifest(ctx, opt.Archive, archive.ManifestPrefix, func(m *archive.Manifest) error { ms = append(ms, m); return nil }); err != nil {
		return nil, err
	}
	rs := map[string]*archive.Retention{}
	expired := map[string]bool{}
	err := archive.Retentions(ctx, opt.Archive, archive.RetentionPrefix, func(key string, r *archive.Retention) error {
		rs[key] = r
		for _, m := range r.Expired {
			expired[m] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v := &verifier{opt: Options{Since: opt.Since, Until: opt.Until}}
	var found *archive.Manifest
	var file archive.File
	var lines [][]byte
	idx := -1
	for _, m := range ms {
		if expired[manifestKey(m)] {
			continue
		}
		for _, f := range m.Files {
			if f.Kind != "events" || f.Format != archive.FormatNDJSON || !v.inRange(&f) {
				continue
			}
			var ls [][]byte
			i := -1
			err := archive.ReadLines(ctx, opt.Archive, f.Key, func(l []byte) error {
				if i < 0 {
					if raw, ok := rawjson.Get(l, "id"); ok {
						if id, err := rawjson.Text(raw); err == nil && id == opt.ID {
							i = len(ls)
						}
					}
				}
				ls = append(ls, bytes.Clone(l))
				return nil
			})
			if err != nil {
				return nil, err
			}
			if i >= 0 {
				found, file, lines, idx = m, f, ls, i
				break
			}
		}
		if found != nil {
			break
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: %q", ErrNoEvent, opt.ID)
	}
	leaves := make([]merkle.Hash, len(lines))
	for i, l := range lines {
		leaves[i] = merkle.LeafHash(l)
	}
	if archive.HexHash(merkle.Root(leaves)) != file.Root {
		return nil, fmt.Errorf("%s does not match its manifest's root; run kansa verify", file.Key)
	}
	fpath, _ := merkle.InclusionProof(leaves, idx)
	log := archive.LogOf(&file)
	var entry *archive.LogEntry
	for i := range found.Logs {
		if found.Logs[i].Log == log {
			entry = &found.Logs[i]
		}
	}
	if entry == nil {
		return nil, fmt.Errorf("manifest %s holds no leaf of log %s (written before kansa chained batches?)", manifestKey(found), log)
	}
	// The log's leaves, from its writer's manifests and retention records.
	var logLeaves []merkle.Hash
	for _, s := range chain.LeavesOf(ms, rs) {
		if s.OriginOf() != chain.Origin(found.Writer, log) {
			continue
		}
		if s.Entry.Index != uint64(len(logLeaves)) {
			return nil, fmt.Errorf("log %s: leaf %d is not where %s puts it; run kansa verify", chain.Origin(found.Writer, log), len(logLeaves), s.Object)
		}
		logLeaves = append(logLeaves, merkle.LeafHash(s.Text))
	}
	// The newest checkpoint that covers the leaf and checks.
	keys := opt.Keys
	if keys == nil {
		var err error
		if keys, err = chain.Keys(ctx, opt.Checkpoints); err != nil {
			return nil, err
		}
	}
	var ckeys []string
	err = opt.Checkpoints.List(ctx, fmt.Sprintf("%swriter=%s/%s/", chain.CheckpointPrefix, found.Writer, log), func(k string, _ int64) error {
		ckeys = append(ckeys, k)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Reverse(ckeys)
	for _, k := range ckeys {
		_, _, size, ok := chain.ParseCheckpointKey(k)
		if !ok || size <= entry.Index || size > uint64(len(logLeaves)) {
			continue
		}
		note, err := opt.Checkpoints.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		cp, err := chain.OpenCheckpoint(note, keys)
		if err != nil || cp.Root != merkle.Root(logLeaves[:size]) {
			continue
		}
		lpath, _ := merkle.InclusionProof(logLeaves[:size], int(entry.Index))
		return &Proof{
			Event: string(lines[idx]), File: file.Key, FileIndex: uint64(idx), FileSize: uint64(len(lines)), FilePath: hexes(fpath),
			BatchLeaf: string(archive.BatchLeaf(found.Writer, log, found.First, found.Last, found.Files)),
			LogIndex:  entry.Index, LogSize: size, LogPath: hexes(lpath),
			Checkpoint: string(note), Key: cp.SignedBy[0].Text(),
		}, nil
	}
	return nil, fmt.Errorf("event %q is in leaf %d of %s, which no valid checkpoint covers yet (one is signed every checkpoints.interval and at shutdown)", opt.ID, entry.Index, chain.Origin(found.Writer, log))
}

func hexes(hs []merkle.Hash) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = archive.HexHash(h)
	}
	return out
}

func parseHashes(ss []string) ([]merkle.Hash, error) {
	out := make([]merkle.Hash, len(ss))
	for i, s := range ss {
		h, err := archive.ParseHash(s)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// Check verifies the proof against keys and returns the checkpoint it is
// proven under.
func (p *Proof) Check(keys []*chain.Verifier) (*chain.Checkpoint, error) {
	fpath, err := parseHashes(p.FilePath)
	if err != nil {
		return nil, fmt.Errorf("file_path: %w", err)
	}
	froot, err := merkle.RootFromInclusion(merkle.LeafHash([]byte(p.Event)), p.FileIndex, p.FileSize, fpath)
	if err != nil {
		return nil, fmt.Errorf("file_path: %w", err)
	}
	// The batch leaf must name the file with that root and that many lines.
	want := " " + archive.HexHash(froot) + " " + p.File
	ok := false
	for _, l := range strings.Split(p.BatchLeaf, "\n") {
		if f := strings.Fields(l); len(f) >= 6 && f[0] == "file" && strings.HasSuffix(l, want) && f[2] == strconv.FormatUint(p.FileSize, 10) {
			ok = true
		}
	}
	if !ok {
		return nil, fmt.Errorf("the event does not hash, through file_path, to the root the batch leaf gives %s: the event or the proof was changed", p.File)
	}
	lpath, err := parseHashes(p.LogPath)
	if err != nil {
		return nil, fmt.Errorf("log_path: %w", err)
	}
	lroot, err := merkle.RootFromInclusion(merkle.LeafHash([]byte(p.BatchLeaf)), p.LogIndex, p.LogSize, lpath)
	if err != nil {
		return nil, fmt.Errorf("log_path: %w", err)
	}
	cp, err := chain.OpenCheckpoint([]byte(p.Checkpoint), keys)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var writer, log string
	for _, l := range strings.Split(p.BatchLeaf, "\n") {
		if w, ok := strings.CutPrefix(l, "writer "); ok {
			writer = w
		}
		if g, ok := strings.CutPrefix(l, "log "); ok {
			log = g
		}
	}
	if cp.Origin != chain.Origin(writer, log) {
		return nil, fmt.Errorf("the checkpoint is of %s, the batch leaf of %s", cp.Origin, chain.Origin(writer, log))
	}
	if cp.Size != p.LogSize || cp.Root != lroot {
		return nil, fmt.Errorf("the batch leaf does not hash, through log_path, to the checkpoint's root (size %d): the proof or the event was changed", cp.Size)
	}
	return cp, nil
}
