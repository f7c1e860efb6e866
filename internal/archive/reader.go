package archive

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/kansa-audit/kansa/internal/gunzip"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// Manifests calls fn with every batch manifest in store, ordered by writer
// and then by WAL range, but those of batches expired by retention (their
// files are gone; see Expired).
func Manifests(ctx context.Context, store objstore.Store, fn func(m *Manifest) error) error {
	return ManifestsUnder(ctx, store, ManifestPrefix, fn)
}

// ManifestsUnder is Manifests for the manifests under prefix, such as one
// writer's (ManifestPrefix + "writer=W/").
func ManifestsUnder(ctx context.Context, store objstore.Store, prefix string, fn func(m *Manifest) error) error {
	expired, err := Expired(ctx, store)
	if err != nil {
		return err
	}
	return EveryManifest(ctx, store, prefix, func(m *Manifest) error {
		if expired[ManifestKey(m.Writer, m.First, m.Last)] != nil {
			return nil
		}
		return fn(m)
	})
}

// EveryManifest is ManifestsUnder with the expired batches' manifests too,
// for what checks the logs (verify, the log state's replay).
func EveryManifest(ctx context.Context, store objstore.Store, prefix string, fn func(m *Manifest) error) error {
	return eachJSON(ctx, store, prefix, "manifest", func(key string, m *Manifest) error {
		if m.Version < 1 || m.Version > ManifestVersion {
			return fmt.Errorf("manifest %s: version %d, this kansa reads 1 to %d", key, m.Version, ManifestVersion)
		}
		return fn(m)
	})
}

// eachJSON calls fn with each .json object under prefix, in the order the
// store lists them, decoded into a new T; what names the objects in
// errors. It reads jsonAhead objects ahead of the one fn has: from a
// distant bucket each is a round trip, and an archive has one manifest a
// batch.
func eachJSON[T any](ctx context.Context, store objstore.Store, prefix, what string, fn func(key string, v *T) error) error {
	var keys []string
	err := store.List(ctx, prefix, func(key string, _ int64) error {
		if strings.HasSuffix(key, ".json") {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return objstore.GetEach(ctx, store, keys, jsonAhead, func(key string, data []byte) error {
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("%s %s: %w", what, key, err)
		}
		return fn(key, v)
	})
}

// jsonAhead is how many manifests (or retention records) eachJSON reads
// ahead: they are small, so more than the archive's files.
const jsonAhead = 16

// ReadLines calls fn with each line of the gzip NDJSON object key. line is
// valid only during the call.
func ReadLines(ctx context.Context, store objstore.Store, key string, fn func(line []byte) error) error {
	r := readers.Get().(*lineReader)
	defer readers.Put(r)
	var err error
	r.file, err = objstore.GetAppend(ctx, store, key, r.file[:0])
	if err != nil {
		return err
	}
	// The whole file is decompressed before the first line is passed on,
	// so a damaged file fails before fn sees any of it.
	r.out, err = r.dec.Append(r.out[:0], r.file)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	for rest := r.out; len(rest) > 0; {
		line, tail, _ := bytes.Cut(rest, []byte{'\n'})
		rest = tail
		if len(line) > 0 {
			if err := fn(line); err != nil {
				return err
			}
		}
	}
	return nil
}

// lineReader is ReadLines' reusable state: a file's bytes and its lines.
type lineReader struct {
	dec       *gunzip.Decoder
	file, out []byte
}

var readers = sync.Pool{New: func() any { return &lineReader{dec: gunzip.NewDecoder()} }}
