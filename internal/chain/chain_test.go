package chain

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/merkle"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/record"
)

func leaf(s string) merkle.Hash { return merkle.LeafHash([]byte(s)) }

func TestAppendRedelivery(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chain.json")
	s, found, err := Open(path, "w1")
	if err != nil || found {
		t.Fatal(err, found)
	}
	commitAll := func(first, last uint64, ls ...archive.Leaf) []archive.LogEntry {
		t.Helper()
		es, commit, err := s.Append(first, last, ls)
		if err != nil {
			t.Fatal(err)
		}
		if err := commit(); err != nil {
			t.Fatal(err)
		}
		return es
	}
	commitAll(1, 10, archive.Leaf{Log: "tenant=a", Hash: leaf("a1")}, archive.Leaf{Log: "tenant=b", Hash: leaf("b1")})
	e2 := commitAll(11, 20, archive.Leaf{Log: "tenant=a", Hash: leaf("a2")})
	if e2[0].Index != 1 || e2[0].Size != 2 || e2[0].Root != archive.HexHash(merkle.Root([]merkle.Hash{leaf("a1"), leaf("a2")})) {
		t.Fatalf("second leaf: %+v", e2[0])
	}
	// Not committed: the logs do not change.
	if _, _, err := s.Append(21, 30, []archive.Leaf{{Log: "tenant=a", Hash: leaf("a3")}}); err != nil {
		t.Fatal(err)
	}
	// The batch the log ends with, again (a crash before the batch's
	// checkpoint): the same entry.
	again := commitAll(11, 20, archive.Leaf{Log: "tenant=a", Hash: leaf("a2")})
	if again[0] != e2[0] {
		t.Fatalf("redelivery: %+v, first time %+v", again[0], e2[0])
	}
	// Rebuilt with other bytes: the leaf is replaced at the same index.
	other := commitAll(11, 20, archive.Leaf{Log: "tenant=a", Hash: leaf("a2'")})
	if other[0].Index != 1 || other[0].Root == e2[0].Root {
		t.Fatalf("replaced leaf: %+v", other[0])
	}
	// An older batch is refused with ErrLogged.
	if _, _, err := s.Append(1, 10, []archive.Leaf{{Log: "tenant=a", Hash: leaf("a1")}}); err == nil || !strings.Contains(err.Error(), archive.ErrLogged.Error()) {
		t.Fatalf("older batch: %v", err)
	}
	// The state survives a reopen.
	r, found, err := Open(path, "w1")
	if err != nil || !found {
		t.Fatal(err, found)
	}
	if fmt.Sprint(r.Heads()) != fmt.Sprint(s.Heads()) {
		t.Fatalf("reopened %v, was %v", r.Heads(), s.Heads())
	}
	if _, _, err := Open(path, "w2"); err == nil {
		t.Fatal("another writer's state opened")
	}
}

// TestReplay: the state rebuilt from the manifests equals the one kept.
func TestReplay(t *testing.T) {
	ctx := context.Background()
	store, err := objstore.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	w, err := archive.NewWriter(archive.Config{}, store, "w1")
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := Open(filepath.Join(t.TempDir(), "chain.json"), "w1")
	if err != nil {
		t.Fatal(err)
	}
	w.UseChain(s)
	day := time.Date(2024, 8, 6, 0, 0, 0, 0, time.UTC)
	for b := range 5 {
		var es []record.Entry
		for i := range 20 {
			tenant := fmt.Sprintf("t%d", (b+i)%3)
			es = append(es, record.Entry{Type: record.TypeEvent, Time: day.Add(time.Duration(b*20+i) * time.Hour).UnixMicro(), Tenant: []byte(tenant),
				Body: fmt.Appendf(nil, `{"id":"%d-%d","tenant":%q}`, b, i, tenant)})
		}
		if _, err := w.Write(ctx, &archive.Batch{First: uint64(b*20 + 1), Last: uint64(b*20 + 20), Closed: day, Entries: es}); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := Open(filepath.Join(t.TempDir(), "chain.json"), "w1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Replay(ctx, store); err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprint(r.Heads()), fmt.Sprint(s.Heads()); got != want || len(s.Heads()) != 3 {
		t.Fatalf("replayed %s, kept %s", got, want)
	}
}

func TestSignatures(t *testing.T) {
	skey, vkey, err := GenerateKey("kansa-test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(vkey)
	if err != nil || v.Text() != s.Verifier() || vkey != s.Verifier() {
		t.Fatalf("%v: %s / %s", err, vkey, s.Verifier())
	}
	cp := &Checkpoint{Origin: Origin("w1", "tenant=a"), Size: 7, Root: leaf("x"), Time: time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)}
	note := s.Sign(cp)
	got, err := OpenCheckpoint(note, []*Verifier{v})
	if err != nil || got.Size != 7 || got.Root != cp.Root || got.Origin != cp.Origin || !got.Time.Equal(cp.Time) {
		t.Fatalf("%v %+v", err, got)
	}
	bad := []byte(strings.Replace(string(note), "\n7\n", "\n8\n", 1))
	if _, err := OpenCheckpoint(bad, []*Verifier{v}); err == nil || !strings.Contains(err.Error(), "changed after it was signed") {
		t.Fatalf("changed size: %v", err)
	}
	skey2, _, _ := GenerateKey("kansa-test")
	s2, _ := NewSigner(skey2)
	if _, err := OpenCheckpoint(s2.Sign(cp), []*Verifier{v}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("kansa-test+%08x", s2.KeyID())) {
		t.Fatalf("another key: %v", err)
	}
	for _, k := range []string{"", "x+1+AA==", vkey + "x", strings.Replace(vkey, "kansa-test", "kansa-tesT", 1)} {
		if _, err := NewVerifier(k); err == nil {
			t.Errorf("verifier key %q accepted", k)
		}
	}
	if _, err := NewSigner(vkey); err == nil {
		t.Error("a verifier key read as a signing key")
	}
}
