package archive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"

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

// eachJSON calls fn with each .json object under prefix, decoded into a
// new T; what names the objects in errors.
func eachJSON[T any](ctx context.Context, store objstore.Store, prefix, what string, fn func(key string, v *T) error) error {
	return store.List(ctx, prefix, func(key string, _ int64) error {
		if !strings.HasSuffix(key, ".json") {
			return nil
		}
		data, err := store.Get(ctx, key)
		if err != nil {
			return err
		}
		v := new(T)
		if err := json.Unmarshal(data, v); err != nil {
			return fmt.Errorf("%s %s: %w", what, key, err)
		}
		return fn(key, v)
	})
}

// ReadLines calls fn with each line of the gzip NDJSON object key. line is
// valid only during the call.
func ReadLines(ctx context.Context, store objstore.Store, key string, fn func(line []byte) error) error {
	data, err := store.Get(ctx, key)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	br := bufio.NewReaderSize(zr, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: collect it whole.
			full := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
		}
		if len(line) > 0 {
			if ferr := fn(line); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
	}
}
