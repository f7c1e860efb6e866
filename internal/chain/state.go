// Package chain keeps a writer's logs and signs checkpoints over them: the
// tamper-evidence stage (docs/tamper-evidence.md).
//
// Every archived batch appends one leaf to each log its files belong to (a
// tenant's events, all events, the error output; archive.LogOf). A log is
// an RFC 9162 Merkle tree over those leaves, per writer, so collectors never
// coordinate. State holds each log's frontier, enough to append and to give
// the root, in a small file of the data directory; the manifests hold every
// leaf, so the state can be rebuilt from them (Replay). A Checkpointer signs
// the logs' roots (Ed25519, C2SP signed notes) on a schedule and at
// shutdown, into a store of their own.
package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// Log is one log's state.
type Log struct {
	Frontier merkle.Frontier
	// The batch the log ends with, its leaf, and the frontier before it,
	// so that a redelivered batch gets the same entry or replaces its leaf.
	First, Last uint64
	Leaf        merkle.Hash
	Before      merkle.Frontier
	// Other: the log ends with a leaf that is not a batch (a retention
	// record), so no redelivery can replace it.
	Other bool
}

// State is a writer's logs. It implements archive.Chain and is safe for
// concurrent use.
type State struct {
	path   string // "" keeps the state in memory only
	writer string
	mu     sync.Mutex
	logs   map[string]*Log
}

// stateFile is State's JSON form.
type stateFile struct {
	Version int                `json:"version"`
	Writer  string             `json:"writer"`
	Logs    map[string]logJSON `json:"logs"`
}

type logJSON struct {
	Size     uint64   `json:"size"`
	Frontier []string `json:"frontier"`
	First    uint64   `json:"first"`
	Last     uint64   `json:"last"`
	Leaf     string   `json:"leaf"`
	Before   []string `json:"before"`
	Other    bool     `json:"other,omitempty"`
}

// Open reads the state of writer's logs at path; a missing file is an
// empty state (Replay fills it from the manifests).
func Open(path, writer string) (*State, bool, error) {
	s := &State{path: path, writer: writer, logs: map[string]*Log{}}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var f stateFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, false, fmt.Errorf("%s: %w (remove it to rebuild it from the manifests)", path, err)
	}
	if f.Writer != writer {
		return nil, false, fmt.Errorf("%s: logs of writer %q, this collector is %q (remove it to rebuild it from the manifests)", path, f.Writer, writer)
	}
	for name, lj := range f.Logs {
		l := &Log{First: lj.First, Last: lj.Last, Other: lj.Other}
		var err error
		if l.Frontier, err = frontier(lj.Size, lj.Frontier); err != nil {
			return nil, false, fmt.Errorf("%s: log %s: %w", path, name, err)
		}
		if l.Size() > 0 {
			if l.Before, err = frontier(l.Size()-1, lj.Before); err != nil {
				return nil, false, fmt.Errorf("%s: log %s: %w", path, name, err)
			}
			if l.Leaf, err = archive.ParseHash(lj.Leaf); err != nil {
				return nil, false, fmt.Errorf("%s: log %s: %w", path, name, err)
			}
		}
		s.logs[name] = l
	}
	return s, true, nil
}

func frontier(size uint64, hs []string) (merkle.Frontier, error) {
	f := merkle.Frontier{Size: size}
	for _, h := range hs {
		x, err := archive.ParseHash(h)
		if err != nil {
			return f, err
		}
		f.Hashes = append(f.Hashes, x)
	}
	if !f.Valid() {
		return f, fmt.Errorf("frontier of %d hashes for size %d", len(hs), size)
	}
	return f, nil
}

func hexes(f merkle.Frontier) []string {
	out := make([]string, len(f.Hashes))
	for i, h := range f.Hashes {
		out[i] = archive.HexHash(h)
	}
	return out
}

// Size is the number of leaves in the log.
func (l *Log) Size() uint64 { return l.Frontier.Size }

// save writes the state atomically; the caller holds mu.
func (s *State) save() error {
	if s.path == "" {
		return nil
	}
	f := stateFile{Version: 1, Writer: s.writer, Logs: map[string]logJSON{}}
	for name, l := range s.logs {
		f.Logs[name] = logJSON{Size: l.Size(), Frontier: hexes(l.Frontier), First: l.First, Last: l.Last,
			Leaf: archive.HexHash(l.Leaf), Before: hexes(l.Before), Other: l.Other}
	}
	data, err := json.MarshalIndent(f, "", " ")
	if err != nil {
		return err
	}
	if err := objstore.WriteFile(s.path, append(data, '\n')); err != nil {
		return fmt.Errorf("save log state: %w", err)
	}
	return nil
}

// Append implements archive.Chain.
func (s *State) Append(first, last uint64, leaves []archive.Leaf) ([]archive.LogEntry, func() error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[string]*Log{}
	entries := make([]archive.LogEntry, 0, len(leaves))
	for _, lf := range leaves {
		old := s.logs[lf.Log]
		var l Log
		switch {
		case old == nil:
		case old.Size() > 0 && !old.Other && first == old.First && last == old.Last:
			// The batch the log ends with, again: same leaf, same entry;
			// another leaf replaces it.
			l = Log{Frontier: old.Before.Clone(), Before: old.Before.Clone()}
		case old.Size() > 0 && first <= old.Last:
			return nil, nil, fmt.Errorf("batch %d-%d, log %s: %w (it ends with batch %d-%d)", first, last, lf.Log, archive.ErrLogged, old.First, old.Last)
		default:
			l = Log{Frontier: old.Frontier.Clone(), Before: old.Frontier.Clone()}
		}
		l.First, l.Last, l.Leaf = first, last, lf.Hash
		l.Frontier.Append(lf.Hash)
		next[lf.Log] = &l
		entries = append(entries, archive.LogEntry{Log: lf.Log, Index: l.Size() - 1, Leaf: archive.HexHash(lf.Hash),
			Size: l.Size(), Root: archive.HexHash(l.Frontier.Root())})
	}
	return entries, s.committer(next), nil
}

// AppendOther is Append for leaves that are not batches (retention
// records): each is a new leaf, whatever the log ends with.
func (s *State) AppendOther(leaves []archive.Leaf) ([]archive.LogEntry, func() error, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := map[string]*Log{}
	entries := make([]archive.LogEntry, 0, len(leaves))
	for _, lf := range leaves {
		l := Log{Other: true}
		if old := s.logs[lf.Log]; old != nil {
			l.Frontier, l.Before, l.First, l.Last = old.Frontier.Clone(), old.Frontier.Clone(), old.First, old.Last
		}
		l.Leaf = lf.Hash
		l.Frontier.Append(lf.Hash)
		next[lf.Log] = &l
		entries = append(entries, archive.LogEntry{Log: lf.Log, Index: l.Size() - 1, Leaf: archive.HexHash(lf.Hash),
			Size: l.Size(), Root: archive.HexHash(l.Frontier.Root())})
	}
	return entries, s.committer(next), nil
}

// committer returns the function that applies next to the logs and saves
// them.
func (s *State) committer(next map[string]*Log) func() error {
	return func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		maps.Copy(s.logs, next)
		return s.save()
	}
}

// Head is a log's size and root.
type Head struct {
	Log  string
	Size uint64
	Root merkle.Hash
}

// Heads returns every log's current size and root, by log name.
func (s *State) Heads() []Head {
	s.mu.Lock()
	defer s.mu.Unlock()
	var hs []Head
	for _, name := range slices.Sorted(maps.Keys(s.logs)) {
		l := s.logs[name]
		hs = append(hs, Head{name, l.Size(), l.Frontier.Root()})
	}
	return hs
}

// Writer is the collector whose logs these are.
func (s *State) Writer() string { return s.writer }
