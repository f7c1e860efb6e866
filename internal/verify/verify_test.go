package verify

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/chain"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
)

const writer = "wtest"

var day = time.Date(2024, 8, 6, 9, 0, 0, 0, time.UTC)

// fixture is an archive of three batches over two tenants and two days,
// with Parquet files and a reject, checkpointed after the second batch and
// after the third.
type fixture struct {
	dir     string
	store   *objstore.Dir
	witness []Witness // the newest checkpoints, as a clean run saw them
	w       *archive.Writer
	cp      *chain.Checkpointer
}

func entries(first, n int) []record.Entry {
	var es []record.Entry
	for i := first; i < first+n; i++ {
		tenant := []string{"acme", "beta"}[i%2]
		t := day.Add(time.Duration(i) * 37 * time.Minute)
		body := fmt.Appendf(nil, `{"schema":"kansa.audit/v1","id":"ev-%d","time":%q,"action":"update","tenant":%q,"source":"test","actor":{"type":"User","id":"%d"},"target":{"type":"Order","id":"%d"},"changes":{"n":[%d,%d]}}`,
			i, t.Format(time.RFC3339), tenant, i%7, i, i, i+1)
		es = append(es, record.Entry{Type: record.TypeEvent, Time: t.UnixMicro(), Tenant: []byte(tenant), Source: []byte("test"), Body: body})
	}
	return es
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	store, err := objstore.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.NewWriter(archive.Config{Parquet: true}, store, writer)
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := chain.Open(filepath.Join(t.TempDir(), "chain.json"), writer)
	if err != nil {
		t.Fatal(err)
	}
	w.UseChain(st)
	skey, _, err := chain.GenerateKey("kansa-" + writer)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := chain.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	cp := &chain.Checkpointer{State: st, Signer: signer, Store: store}
	next := uint64(1)
	for b, n := range []int{40, 30, 50} {
		es := entries(int(next), n)
		if b == 1 {
			es = append(es, record.Entry{Type: record.TypeReject, Time: day.UnixMicro(), Tenant: []byte("acme"), Source: []byte("test"),
				Body: []byte(`{"error_type":"decode","error":"not JSON","line":"garbage"}`)})
		}
		if _, err := w.Write(ctx, &archive.Batch{First: next, Last: next + uint64(len(es)) - 1, Closed: day, Entries: es}); err != nil {
			t.Fatal(err)
		}
		next += uint64(len(es))
		if b >= 1 {
			if _, err := cp.Checkpoint(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	f := &fixture{dir: dir, store: store, w: w, cp: cp}
	rep := f.verify(t, Options{})
	if !rep.OK() || len(rep.Notes) != 0 {
		t.Fatalf("untouched archive: %v, notes %v", rep.Problems, rep.Notes)
	}
	if rep.Events != 2*120+1 || rep.Checkpoints != 5 || rep.Logs != 3 {
		t.Fatalf("untouched archive: %d events (NDJSON and Parquet), %d checkpoints, %d logs", rep.Events, rep.Checkpoints, rep.Logs)
	}
	for _, w := range rep.Newest {
		f.witness = append(f.witness, w)
	}
	return f
}

func (f *fixture) verify(t *testing.T, opt Options) *Report {
	t.Helper()
	opt.Archive = f.store
	rep, err := Verify(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// keys lists the archive's keys under prefix that end in suffix.
func (f *fixture) keys(t *testing.T, prefix, suffix string) []string {
	var ks []string
	f.store.List(context.Background(), prefix, func(k string, _ int64) error {
		if strings.HasSuffix(k, suffix) {
			ks = append(ks, k)
		}
		return nil
	})
	if len(ks) == 0 {
		t.Fatalf("no %s…%s", prefix, suffix)
	}
	return ks
}

func (f *fixture) path(key string) string { return filepath.Join(f.dir, filepath.FromSlash(key)) }

func (f *fixture) read(t *testing.T, key string) []byte {
	b, err := os.ReadFile(f.path(key))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (f *fixture) write(t *testing.T, key string, data []byte) {
	if err := os.MkdirAll(filepath.Dir(f.path(key)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.path(key), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// lines and gz read and write an NDJSON file's lines.
func (f *fixture) lines(t *testing.T, key string) [][]byte {
	zr, err := gzip.NewReader(bytes.NewReader(f.read(t, key)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
}

func gz(lines [][]byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(append(bytes.Join(lines, []byte("\n")), '\n'))
	zw.Close()
	return buf.Bytes()
}

// firstEvents is the first batch's first acme NDJSON file.
func (f *fixture) firstEvents(t *testing.T) string {
	return f.keys(t, "tenant=acme/", "-00000000000000000001-00000000000000000040.ndjson.gz")[0]
}

func expect(t *testing.T, rep *Report, object, what string) {
	t.Helper()
	for _, p := range rep.Problems {
		if strings.Contains(p.Object, object) && strings.Contains(p.What, what) {
			t.Logf("caught: %s", p)
			return
		}
	}
	t.Fatalf("want a problem with %q naming %q; got %d:\n%v", what, object, len(rep.Problems), rep.Problems)
}

func TestTamper(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper func(t *testing.T, f *fixture) (object, what string)
	}{
		{"flip a byte inside a compressed file", func(t *testing.T, f *fixture) (string, string) {
			k := f.firstEvents(t)
			b := f.read(t, k)
			b[len(b)/2] ^= 0x40
			f.write(t, k, b)
			return k, "damaged: "
		}},
		{"garble the start of a compressed stream", func(t *testing.T, f *fixture) (string, string) {
			k := f.firstEvents(t)
			b := f.read(t, k)
			b[10] = 0xff // the first deflate block: a reserved type
			f.write(t, k, b)
			return k, "damaged: the gzip stream fails, so its compressed bytes were changed; its manifest lists 12 events"
		}},
		{"delete one event and recompress", func(t *testing.T, f *fixture) (string, string) {
			k := f.firstEvents(t)
			ls := f.lines(t, k)
			f.write(t, k, gz(slices.Delete(ls, 3, 4)))
			return k, "events were deleted"
		}},
		{"reorder two events", func(t *testing.T, f *fixture) (string, string) {
			k := f.firstEvents(t)
			ls := f.lines(t, k)
			ls[1], ls[2] = ls[2], ls[1]
			f.write(t, k, gz(ls))
			return k, "reordered"
		}},
		{"delete a file", func(t *testing.T, f *fixture) (string, string) {
			k := f.firstEvents(t)
			os.Remove(f.path(k))
			return k, "missing: listed in _kansa/manifests/writer=wtest/00000000000000000001-00000000000000000040.json"
		}},
		{"add a forged file", func(t *testing.T, f *fixture) (string, string) {
			k := "tenant=acme/year=2024/month=08/day=06/kansa-wtest-00000000000000000005-00000000000000000006.ndjson.gz"
			f.write(t, k, gz([][]byte{[]byte(`{"schema":"kansa.audit/v1","id":"forged"}`)}))
			return k, "not listed in any manifest"
		}},
		{"truncate the newest file", func(t *testing.T, f *fixture) (string, string) {
			ks := f.keys(t, "tenant=", "-00000000000000000072-00000000000000000121.ndjson.gz")
			k := ks[len(ks)-1]
			b := f.read(t, k)
			f.write(t, k, b[:len(b)*2/3])
			return k, "truncated"
		}},
		{"replace a checkpoint with one signed by another key", func(t *testing.T, f *fixture) (string, string) {
			k := f.keys(t, "_kansa/checkpoints/writer=wtest/tenant=acme/", "")[1]
			old, err := chain.OpenCheckpoint(f.read(t, k), mustKeys(t, f))
			if err != nil {
				t.Fatal(err)
			}
			skey, _, _ := chain.GenerateKey("kansa-" + writer)
			evil, _ := chain.NewSigner(skey)
			f.write(t, k, evil.Sign(old))
			return k, fmt.Sprintf("not signed by a trusted key: signed by kansa-wtest+%08x", evil.KeyID())
		}},
		{"change an event and recompute its file's hashes in the manifest", func(t *testing.T, f *fixture) (string, string) {
			k := f.firstEvents(t)
			f.changeEvent(t, k, false)
			return "_kansa/manifests/writer=wtest/00000000000000000001-00000000000000000040.json", "the manifest's files were changed after the batch was logged"
		}},
		{"change an event and recompute its file, manifest and log", func(t *testing.T, f *fixture) (string, string) {
			k := f.keys(t, "tenant=acme/", "-00000000000000000072-00000000000000000121.ndjson.gz")[0]
			f.changeEvent(t, k, true)
			return "_kansa/checkpoints/writer=wtest/tenant=acme/00000000000000000003", "checkpoint's root for kansa/wtest/tenant=acme at size 3 differs from the archive's"
		}},
		{"flip a byte in a Parquet file", func(t *testing.T, f *fixture) (string, string) {
			k := f.keys(t, "parquet/tenant=beta/", ".parquet")[0]
			b := f.read(t, k)
			b[len(b)/3] ^= 1
			f.write(t, k, b)
			return k, "the parquet file was changed"
		}},
		{"delete a manifest", func(t *testing.T, f *fixture) (string, string) {
			os.Remove(f.path("_kansa/manifests/writer=wtest/00000000000000000041-00000000000000000071.json"))
			// The checkpoints past it are not said to have lost their leaves.
			rep := f.verify(t, Options{})
			for _, p := range rep.Problems {
				// The errors log's one leaf was this batch's: deleted indeed.
				if strings.Contains(p.Object, "tenant=acme") && strings.Contains(p.What, "were deleted (or the archive was rolled back)") {
					t.Errorf("a later leaf called deleted: %s", p)
				}
			}
			expect(t, rep, "_kansa/checkpoints/writer=wtest/tenant=acme/", "which cannot be checked past the first 1 leaf: the log breaks there")
			return "kansa/wtest/tenant=acme", "leaf 1 is missing"
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			object, what := c.tamper(t, f)
			rep := f.verify(t, Options{})
			if rep.OK() {
				t.Fatal("tampered archive verifies")
			}
			expect(t, rep, object, what)
		})
	}
}

func mustKeys(t *testing.T, f *fixture) []*chain.Verifier {
	keys, err := chain.Keys(context.Background(), f.store)
	if err != nil || len(keys) != 1 {
		t.Fatalf("keys: %v %v", keys, err)
	}
	return keys
}

// changeEvent edits one event of file k and rewrites the file's SHA-256 and
// root in its manifest; with relog, also the manifest's leaf and log root,
// as someone who knows the format would.
func (f *fixture) changeEvent(t *testing.T, k string, relog bool) {
	ls := f.lines(t, k)
	ls[0] = bytes.Replace(ls[0], []byte(`"action":"update"`), []byte(`"action":"delete"`), 1)
	data := gz(ls)
	f.write(t, k, data)
	var mkey string
	var m archive.Manifest
	for _, key := range f.keys(t, archive.ManifestPrefix, ".json") {
		if err := json.Unmarshal(f.read(t, key), &m); err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(m.Files, func(x archive.File) bool { return x.Key == k }) {
			mkey = key
			break
		}
	}
	var leaves []merkle.Hash
	for _, l := range ls {
		leaves = append(leaves, merkle.LeafHash(l))
	}
	for i := range m.Files {
		if m.Files[i].Key == k {
			sum := sha256.Sum256(data)
			m.Files[i].SHA256, m.Files[i].Bytes, m.Files[i].Root = hex.EncodeToString(sum[:]), len(data), archive.HexHash(merkle.Root(leaves))
		}
	}
	if relog {
		// The last batch: the log's frontier before it is in the earlier
		// manifests; recompute the log from all its leaves.
		for i, e := range m.Logs {
			var fr merkle.Frontier
			for _, key := range f.keys(t, archive.ManifestPrefix, ".json") {
				var o archive.Manifest
				json.Unmarshal(f.read(t, key), &o)
				if o.First == m.First {
					o = m
				}
				for _, oe := range o.Logs {
					if oe.Log == e.Log {
						fr.Append(merkle.LeafHash(archive.BatchLeaf(o.Writer, oe.Log, o.First, o.Last, o.Files)))
					}
				}
			}
			m.Logs[i].Leaf = archive.HexHash(merkle.LeafHash(archive.BatchLeaf(m.Writer, e.Log, m.First, m.Last, m.Files)))
			m.Logs[i].Root = archive.HexHash(fr.Root())
		}
	}
	out, _ := json.MarshalIndent(m, "", "  ")
	f.write(t, mkey, out)
}

func TestRollback(t *testing.T) {
	// Checkpoints alone rolled back: the archive still holds every batch.
	f := newFixture(t)
	for _, k := range f.keys(t, "_kansa/checkpoints/writer=wtest/", "00000000000000000003") {
		os.Remove(f.path(k))
	}
	if rep := f.verify(t, Options{}); !rep.OK() || len(rep.Notes) == 0 {
		t.Fatalf("without a witness, a rollback of the checkpoints alone is leaves not yet covered (a note): %v %v", rep.Problems, rep.Notes)
	}
	expect(t, f.verify(t, Options{Witnesses: f.witness}), "kansa/wtest/tenant=acme", "the checkpoints were rolled back")

	// Archive and checkpoints rolled back together: the last batch and its
	// checkpoints are gone.
	f = newFixture(t)
	for _, prefix := range []string{"_kansa/checkpoints/writer=wtest/", "_kansa/manifests/", "tenant=", "parquet/"} {
		for _, k := range f.keys(t, prefix, "") {
			if strings.Contains(k, "-00000000000000000121.") || strings.HasSuffix(k, "00000000000000000003") || strings.HasSuffix(k, "-00000000000000000121.json") {
				os.Remove(f.path(k))
			}
		}
	}
	if rep := f.verify(t, Options{}); !rep.OK() {
		t.Fatalf("a consistent rollback is invisible without a witness, yet: %v", rep.Problems)
	}
	expect(t, f.verify(t, Options{Witnesses: f.witness}), "tenant=acme", "checkpoint covers 3 leaves of kansa/wtest/tenant=acme, the archive's manifests hold 2")
}

func TestFilters(t *testing.T) {
	f := newFixture(t)
	k := f.firstEvents(t)
	os.Remove(f.path(k))
	expect(t, f.verify(t, Options{Tenant: "acme"}), k, "missing")
	if rep := f.verify(t, Options{Tenant: "beta"}); !rep.OK() || rep.Logs != 1 {
		t.Fatalf("beta's files are whole: %v, %d logs", rep.Problems, rep.Logs)
	}
	if rep := f.verify(t, Options{Since: day.Add(100 * time.Hour)}); rep.Files != 0 {
		t.Fatalf("--since after every event checked %d files", rep.Files)
	}
}

func TestProve(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	keys := mustKeys(t, f)
	for _, id := range []string{"ev-1", "ev-2", "ev-57", "ev-121"} {
		p, err := Prove(ctx, ProveOptions{Archive: f.store, ID: id})
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		cp, err := p.Check(keys)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if !strings.Contains(p.Event, `"id":"`+id+`"`) || cp.Size != 3 {
			t.Fatalf("%s: proof of %s under size %d", id, p.Event, cp.Size)
		}
		// Through JSON, as a third party receives it.
		data, _ := json.Marshal(p)
		var q Proof
		if err := json.Unmarshal(data, &q); err != nil {
			t.Fatal(err)
		}
		if _, err := q.Check(keys); err != nil {
			t.Fatalf("%s after JSON: %v", id, err)
		}
		for name, tamper := range map[string]func(q *Proof){
			"event changed":      func(q *Proof) { q.Event = strings.Replace(q.Event, "update", "delete", 1) },
			"file path changed":  func(q *Proof) { q.FilePath[0] = q.LogPath[0] },
			"another position":   func(q *Proof) { q.FileIndex ^= 1 },
			"batch leaf changed": func(q *Proof) { q.BatchLeaf = strings.Replace(q.BatchLeaf, "range ", "range 1", 1) },
			"log index changed":  func(q *Proof) { q.LogIndex = (q.LogIndex + 1) % q.LogSize },
			"checkpoint changed": func(q *Proof) { q.Checkpoint = strings.Replace(q.Checkpoint, "\n3\n", "\n2\n", 1) },
		} {
			var r Proof
			json.Unmarshal(data, &r)
			tamper(&r)
			if _, err := r.Check(keys); err == nil {
				t.Errorf("%s: proof with %s checks", id, name)
			}
		}
	}
	skey, _, _ := chain.GenerateKey("other")
	other, _ := chain.NewSigner(skey)
	v, _ := chain.NewVerifier(other.Verifier())
	p, err := Prove(ctx, ProveOptions{Archive: f.store, ID: "ev-3"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Check([]*chain.Verifier{v}); err == nil || !strings.Contains(err.Error(), "not signed by a trusted key") {
		t.Fatalf("checked against another key: %v", err)
	}
	if _, err := Prove(ctx, ProveOptions{Archive: f.store, ID: "ev-999"}); !errors.Is(err, ErrNoEvent) {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestRetention: batches expired by policy verify clean, reported as
// expired; anything else that disappears is still missing; proofs of the
// events left still check; a forged retention record is caught.
func TestRetention(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	files := f.verify(t, Options{}).Files
	now := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	r, err := f.w.Expire(ctx, day.Add(30*time.Hour), "retention_days=365", now)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil || len(r.Expired) != 1 || r.Expired[0] != "_kansa/manifests/writer=wtest/00000000000000000001-00000000000000000040.json" {
		t.Fatalf("expired %+v", r)
	}
	if _, err := f.cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if again, err := f.w.Expire(ctx, day.Add(30*time.Hour), "retention_days=365", now.Add(time.Hour)); err != nil || again != nil {
		t.Fatalf("second run: %+v %v", again, err)
	}
	rep := f.verify(t, Options{})
	if !rep.OK() || rep.Expired == 0 || !strings.Contains(strings.Join(rep.Notes, "\n"), "expired by policy (retention_days=365) on 2026-12-04T00:00:00Z") {
		t.Fatalf("after retention: %v, %d expired, notes %v", rep.Problems, rep.Expired, rep.Notes)
	}
	if rep.Files != files-rep.Expired {
		t.Fatalf("after retention %d files checked, want %d of %d: expired ones are not read", rep.Files, files-rep.Expired, files)
	}
	f.store.List(ctx, "", func(k string, _ int64) error {
		if strings.Contains(k, "-00000000000000000001-00000000000000000040.") {
			t.Errorf("expired file %s is still there", k)
		}
		return nil
	})
	n := 0
	archive.Manifests(ctx, f.store, func(*archive.Manifest) error { n++; return nil })
	if n != 2 {
		t.Fatalf("readers see %d manifests, want the 2 not expired", n)
	}
	p, err := Prove(ctx, ProveOptions{Archive: f.store, ID: "ev-100"})
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := p.Check(mustKeys(t, f)); err != nil || cp.Size != 4 {
		t.Fatalf("proof after retention: %v (size %v)", err, cp)
	}

	// Another file disappears: still an error.
	live := f.keys(t, "tenant=acme/", "-00000000000000000072-00000000000000000121.ndjson.gz")[0]
	os.Remove(f.path(live))
	expect(t, f.verify(t, Options{}), live, "missing")

	// A retention record edited to cover a batch it did not expire.
	f = newFixture(t)
	f.w.Expire(ctx, day.Add(30*time.Hour), "retention_days=365", now)
	key := f.keys(t, archive.RetentionPrefix, ".json")[0]
	var rec archive.Retention
	json.Unmarshal(f.read(t, key), &rec)
	rec.Expired = append(rec.Expired, "_kansa/manifests/writer=wtest/00000000000000000041-00000000000000000071.json")
	out, _ := json.Marshal(rec)
	f.write(t, key, out)
	for _, k := range f.keys(t, "tenant=", "-00000000000000000041-00000000000000000071.ndjson.gz") {
		os.Remove(f.path(k))
	}
	expect(t, f.verify(t, Options{}), key, "the retention record was changed after it was logged")
}

// TestRetentionKeepsNewRejects: a batch is kept while any record in it,
// a rejected one too, is newer than the cutoff.
func TestRetentionKeepsNewRejects(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	es := append(entries(122, 2), record.Entry{Type: record.TypeReject, Time: day.Add(100 * time.Hour).UnixMicro(),
		Tenant: []byte("acme"), Source: []byte("test"), Body: []byte(`{"error_type":"decode","error":"not JSON","line":"x"}`)})
	if _, err := f.w.Write(ctx, &archive.Batch{First: 122, Last: 124, Closed: day.Add(100 * time.Hour), Entries: es}); err != nil {
		t.Fatal(err)
	}
	// Every event of the fourth batch is before the cutoff; its reject is not.
	r, err := f.w.Expire(ctx, day.Add(80*time.Hour), "retention_days=365", time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if r == nil || len(r.Expired) != 3 || slices.Contains(r.Expired, "_kansa/manifests/writer=wtest/00000000000000000122-00000000000000000124.json") {
		t.Fatalf("expired %+v, want the first three batches", r)
	}
	if _, err := f.cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t, Options{}); !rep.OK() {
		t.Fatalf("after retention: %v", rep.Problems)
	}
}

// TestKeyRotationAndSeparateStore: checkpoints in a store of their own,
// signed by one key and then, after a rotation, by another; both public
// keys are kept beside them and everything verifies. A pinned key that is
// only the new one fails the old checkpoints, naming the old key.
func TestKeyRotationAndSeparateStore(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store, _ := objstore.NewDir(dir)
	cpStore, _ := objstore.NewDir(t.TempDir())
	w, err := archive.NewWriter(archive.Config{}, store, writer)
	if err != nil {
		t.Fatal(err)
	}
	st, _, _ := chain.Open(filepath.Join(t.TempDir(), "chain.json"), writer)
	w.UseChain(st)
	var signers []*chain.Signer
	for range 2 {
		skey, _, _ := chain.GenerateKey("kansa-" + writer)
		s, _ := chain.NewSigner(skey)
		signers = append(signers, s)
	}
	next := 1
	for i, s := range signers {
		es := entries(next, 20)
		if _, err := w.Write(ctx, &archive.Batch{First: uint64(next), Last: uint64(next + 19), Closed: day, Entries: es}); err != nil {
			t.Fatal(err)
		}
		next += 20
		cp := &chain.Checkpointer{State: st, Signer: s, Store: cpStore}
		if n, err := cp.Checkpoint(ctx); err != nil || n != 2 {
			t.Fatalf("key %d: %d checkpoints, %v", i, n, err)
		}
	}
	rep, err := Verify(ctx, Options{Archive: store, Checkpoints: cpStore})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Checkpoints != 4 || len(rep.Keys) != 2 {
		t.Fatalf("after a rotation: %v, %d checkpoints, %d keys", rep.Problems, rep.Checkpoints, len(rep.Keys))
	}
	if n := len(storedKeys(t, store)); n != 0 {
		t.Fatalf("%d keys in the archive's store, want them with the checkpoints only", n)
	}
	newKey, _ := chain.NewVerifier(signers[1].Verifier())
	rep, _ = Verify(ctx, Options{Archive: store, Checkpoints: cpStore, Keys: []*chain.Verifier{newKey}})
	expect(t, rep, "/00000000000000000001", fmt.Sprintf("not signed by a trusted key: signed by kansa-wtest+%08x", signers[0].KeyID()))
}

func storedKeys(t *testing.T, store objstore.Store) []*chain.Verifier {
	keys, err := chain.Keys(context.Background(), store)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}
