// Package objstore is the object-storage interface the archive writes to,
// with a local-directory implementation. Keys are slash-separated paths
// relative to the store's root ("tenant=acme/year=2024/…/x.ndjson.gz").
package objstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrNotExist is returned by Get for a key that has no object.
var ErrNotExist = errors.New("object does not exist")

// Store holds immutable objects by key. Implementations are safe for
// concurrent use. Cancelling ctx abandons the call; a Put abandoned midway
// leaves either the old object or the new one, never a part.
type Store interface {
	// Put stores data under key, replacing any object there. When Put
	// returns nil the object is durable. Put does not retain data.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the object's bytes, or an error wrapping ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	// List calls fn for every key under prefix, in lexical order. A prefix
	// that is not a whole path element matches by string prefix.
	List(ctx context.Context, prefix string, fn func(key string, size int64) error) error
	// Delete removes the object; a key with no object is not an error.
	// Only retention deletes (internal/retention), and records it first.
	Delete(ctx context.Context, key string) error
	// String names the store for logs ("dir:/var/lib/kansa/archive").
	String() string
}

// Appender is a Store that can read an object into a caller's buffer, so a
// reader of many objects (kansa verify) reuses one buffer.
type Appender interface {
	// GetAppend appends the object's bytes to buf and returns the result,
	// or an error wrapping ErrNotExist.
	GetAppend(ctx context.Context, key string, buf []byte) ([]byte, error)
}

// Ranger is implemented by stores that read part of an object.
type Ranger interface {
	// GetRange appends the n bytes of the object at offset off to buf, or
	// returns an error wrapping ErrNotExist; fewer than n bytes (the
	// object is shorter) is an error.
	GetRange(ctx context.Context, key string, off, n int64, buf []byte) ([]byte, error)
}

// GetRange reads n bytes of key at off into buf through s's Ranger if it
// has one, else by reading the whole object.
func GetRange(ctx context.Context, s Store, key string, off, n int64, buf []byte) ([]byte, error) {
	if r, ok := s.(Ranger); ok {
		return r.GetRange(ctx, key, off, n, buf)
	}
	b, err := s.Get(ctx, key)
	if err != nil {
		return buf, err
	}
	if off < 0 || n < 0 || off+n > int64(len(b)) {
		return buf, fmt.Errorf("get %s: bytes %d..%d of an object of %d", key, off, off+n, len(b))
	}
	return append(buf, b[off:off+n]...), nil
}

// GetAppend reads key into buf through s's Appender if it has one, else
// through Get.
func GetAppend(ctx context.Context, s Store, key string, buf []byte) ([]byte, error) {
	if a, ok := s.(Appender); ok {
		return a.GetAppend(ctx, key, buf)
	}
	b, err := s.Get(ctx, key)
	return append(buf, b...), err
}

// CheckKey rejects keys that could escape a store's root or that stores
// disagree on: empty elements, "." or "..", a leading slash, backslashes, NUL.
func CheckKey(key string) error {
	if key == "" {
		return errors.New("empty object key")
	}
	if strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("object key %q: backslash or NUL", key)
	}
	for _, el := range strings.Split(key, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("object key %q: empty, . or .. path element", key)
		}
	}
	return nil
}

// GetEach reads the objects keys and calls fn with each one's bytes, in
// the order of keys, reading up to ahead objects beyond the one fn has: a
// bucket's latency, or a disk's, is then paid while fn works. At most
// ahead+1 objects are held or being read at once. The bytes are valid
// during the call. It stops at the first error.
func GetEach(ctx context.Context, s Store, keys []string, ahead int, fn func(key string, data []byte) error) error {
	ahead = max(ahead, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type got struct {
		data []byte
		err  error
	}
	free := make(chan []byte, ahead+1)
	for range ahead + 1 {
		free <- nil
	}
	results := make([]chan got, len(keys))
	for i := range results {
		results[i] = make(chan got, 1)
	}
	go func() {
		for i, key := range keys {
			var buf []byte
			select {
			case buf = <-free: // a buffer back from fn, or one of the first ahead+1
			case <-ctx.Done():
				return
			}
			go func() {
				b, err := GetAppend(ctx, s, key, buf[:0])
				results[i] <- got{b, err}
			}()
		}
	}()
	for i, key := range keys {
		var g got
		select {
		case g = <-results[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		if g.err != nil {
			return g.err
		}
		if err := fn(key, g.data); err != nil {
			return err
		}
		free <- g.data
	}
	return nil
}
