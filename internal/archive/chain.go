package archive

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	"github.com/kansa-audit/kansa/internal/merkle"
)

// Log names, one log per (writer, log name): the events of one tenant
// ("tenant=" and the escaped tenant) when the prefix template partitions by
// tenant, else all events ("all"); and the error output ("errors").
const (
	LogAll    = "all"
	LogErrors = "errors"
)

// LogOf returns the name of the log that file f belongs to.
func LogOf(f *File) string {
	switch {
	case f.Kind == "rejects":
		return LogErrors
	case f.Tenant != "":
		return "tenant=" + string(AppendEscaped(nil, f.Tenant))
	}
	return LogAll
}

// LogEntry is one leaf a manifest appended to one of its writer's logs:
// the leaf's index, its hash, and the log's size and root once it was
// appended.
type LogEntry struct {
	Log   string `json:"log"`
	Index uint64 `json:"index"`
	Leaf  string `json:"leaf"`
	Size  uint64 `json:"size"`
	Root  string `json:"root"`
}

// Leaf is a batch's leaf in one log.
type Leaf struct {
	Log  string
	Hash merkle.Hash
}

// Chain keeps a writer's logs (internal/chain). Append computes the entries
// of one batch's leaves without changing the logs; the writer calls commit
// once the batch's manifest is durable, so a log never holds a leaf whose
// manifest could be missing. Appending the batch the logs end with again,
// as a redelivery after a crash does, gives the same entries when the
// leaves are the same and replaces the batch's leaves when they are not (a
// batch rebuilt by another kansa version). A batch older than that is
// refused with an error wrapping ErrLogged.
type Chain interface {
	Append(first, last uint64, leaves []Leaf) (entries []LogEntry, commit func() error, err error)
	// AppendOther appends leaves that are not batches (retention records).
	AppendOther(leaves []Leaf) (entries []LogEntry, commit func() error, err error)
}

// ErrLogged: the logs already hold leaves of batches after this one.
var ErrLogged = errors.New("the logs already hold later batches")

// UseChain makes every batch written from now on append its leaves to c.
// Without it manifests carry file roots but no log entries.
func (w *Writer) UseChain(c Chain) { w.chain = c }

// BatchLeaf returns the leaf text of the batch first-last of writer in
// log: what the log's leaf hash (merkle.LeafHash) is computed over. It lists
// every file of files that belongs to log, in the order given, with its
// format, record count, SHA-256, Merkle root over its lines (NDJSON) and
// key, so a leaf binds the exact bytes of every file of its batch.
func BatchLeaf(writer, log string, first, last uint64, files []File) []byte {
	b := fmt.Appendf(nil, "kansa batch v1\nwriter %s\nlog %s\nrange %d %d\n", writer, log, first, last)
	for i := range files {
		f := &files[i]
		if LogOf(f) != log {
			continue
		}
		root := f.Root
		if root == "" {
			root = "-"
		}
		b = append(b, "file "...)
		b = append(b, f.Format...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(f.Records), 10)
		b = append(b, ' ')
		b = append(b, f.SHA256...)
		b = append(b, ' ')
		b = append(b, root...)
		b = append(b, ' ')
		b = append(b, f.Key...)
		b = append(b, '\n')
	}
	return b
}

// Logs returns the names of the logs files belong to, each once, in the
// order of first appearance.
func Logs(files []File) []string {
	var logs []string
	seen := map[string]bool{}
	for i := range files {
		l := LogOf(&files[i])
		if !seen[l] {
			seen[l] = true
			logs = append(logs, l)
		}
	}
	return logs
}

// HexHash is h in lower-case hex, as manifests write hashes.
func HexHash(h merkle.Hash) string { return hex.EncodeToString(h[:]) }

// ParseHash reads a hash written by HexHash.
func ParseHash(s string) (merkle.Hash, error) {
	var h merkle.Hash
	if len(s) != 2*len(h) {
		return h, fmt.Errorf("hash %q: want %d hex digits", s, 2*len(h))
	}
	_, err := hex.Decode(h[:], []byte(s))
	return h, err
}
