//go:build cgo

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/synth"
)

// The Pebble layout: the events themselves under "e" + seq, and postings,
// each an empty value under a key that sorts one actor's, one record's or
// one request's events together, newest first:
//
//	e <seq:8>                                   → the event's stored line
//	a <tenant> 0 <type> 0 <id> 0 <^time:8> <seq:8>
//	t <tenant> 0 <type> 0 <id> 0 <^time:8> <seq:8>
//	r <request id> 0 <seq:8>
func postingKey(dst []byte, kind byte, tenant, typ, id string, t int64, seq uint64) []byte {
	dst = append(dst, kind)
	dst = append(append(dst, tenant...), 0)
	dst = append(append(dst, typ...), 0)
	dst = append(append(dst, id...), 0)
	dst = binary.BigEndian.AppendUint64(dst, ^uint64(t))
	return binary.BigEndian.AppendUint64(dst, seq)
}

func evalPebble(out io.Writer, g *synth.Generator, o options) error {
	opts := &pebble.Options{DisableWAL: true, MemTableSize: 64 << 20, Cache: pebble.NewCache(256 << 20)}
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	for i := range opts.Levels {
		opts.Levels[i].BlockSize = o.blockSize
		opts.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.ZstdCompression }
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pebble.Open(filepath.Join(o.dir, "pebble"), opts)
	if err != nil {
		return err
	}
	defer db.Close()
	start := time.Now()
	var seq uint64
	var key []byte
	counts := map[string]uint64{}
	err = chunks(g, func(k int, lines [][]byte) error {
		b := db.NewBatch()
		for _, l := range lines {
			e, err := event.DecodeAliased(l)
			if err != nil {
				return err
			}
			seq++
			key = binary.BigEndian.AppendUint64(append(key[:0], 'e'), seq)
			b.Set(key, l, nil)
			t := e.Time.UnixMicro()
			key = postingKey(key[:0], 'a', e.Tenant, e.Actor.Type, e.Actor.ID, t, seq)
			b.Set(key, nil, nil)
			key = postingKey(key[:0], 't', e.Tenant, e.Target.Type, e.Target.ID, t, seq)
			b.Set(key, nil, nil)
			key = append(append(append(key[:0], 'r'), e.Context.RequestID...), 0)
			key = binary.BigEndian.AppendUint64(key, seq)
			b.Set(key, nil, nil)
			counts[e.Time.UTC().Format("2006-01-02")+"\x00"+e.Action]++
		}
		return b.Commit(pebble.NoSync)
	})
	if err != nil {
		return err
	}
	b := db.NewBatch()
	for k, n := range counts {
		b.Set(append([]byte{'c'}, k...), binary.BigEndian.AppendUint64(nil, n), nil)
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		return err
	}
	if err := db.Flush(); err != nil {
		return err
	}
	built := time.Since(start)
	fmt.Fprintf(out, "pebble: built %d events in %s (%.0f events/s), %.1f bytes/event\n", o.n, built.Round(time.Millisecond),
		float64(o.n)/built.Seconds(), float64(dirSize(o.dir))/float64(o.n))
	t0 := time.Now()
	if err := db.Compact(context.Background(), []byte{0}, []byte{0xff}, true); err != nil {
		return err
	}
	fmt.Fprintf(out, "pebble: compacted in %s, %.1f bytes/event\n", time.Since(t0).Round(time.Millisecond), float64(dirSize(o.dir))/float64(o.n))

	history := func(k synth.Key) (int, error) {
		var prefix []byte
		switch k.Kind {
		case "actor", "target":
			kind := byte('a')
			if k.Kind == "target" {
				kind = 't'
			}
			prefix = postingKey(nil, kind, event.DefaultTenant, k.Type, k.ID, 0, 0)
			prefix = prefix[:len(prefix)-16]
		case "request":
			prefix = append(append([]byte{'r'}, k.ID...), 0)
		}
		upper := append([]byte(nil), prefix...)
		upper[len(upper)-1]++ // the 0 separator → 1
		it, err := db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper})
		if err != nil {
			return 0, err
		}
		var seqs []uint64
		for ok := it.First(); ok && len(seqs) < 100; ok = it.Next() {
			kk := it.Key()
			seqs = append(seqs, binary.BigEndian.Uint64(kk[len(kk)-8:]))
		}
		if err := it.Close(); err != nil {
			return 0, err
		}
		n := 0
		var ek []byte
		for _, s := range seqs {
			ek = binary.BigEndian.AppendUint64(append(ek[:0], 'e'), s)
			v, closer, err := db.Get(ek)
			if err != nil {
				return n, fmt.Errorf("event %d: %w", s, err)
			}
			if _, err := event.DecodeAliased(v); err != nil {
				closer.Close()
				return n, err
			}
			closer.Close()
			n++
		}
		return n, nil
	}
	for _, kind := range []string{"target", "actor", "request"} {
		keys := g.Keys(kind, o.lookups, 9)
		if err := latencies(out, kind+" (cold-ish)", keys[:min(20, len(keys))], history); err != nil {
			return err
		}
		if err := latencies(out, kind, keys, history); err != nil {
			return err
		}
	}
	for range 3 {
		t0 := time.Now()
		it, _ := db.NewIter(&pebble.IterOptions{LowerBound: []byte{'c'}, UpperBound: []byte{'d'}})
		n := 0
		for ok := it.First(); ok; ok = it.Next() {
			n++
		}
		it.Close()
		fmt.Fprintf(out, "count by action per day (kept while building): %d groups in %.3f ms\n", n, ms(time.Since(t0)))
	}
	return nil
}
