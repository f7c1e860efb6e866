package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/kansa-audit/kansa/internal/chain"
)

// TestVerifyCommand: a default install signs its logs with a generated key;
// kansa verify checks it clean, remembers the newest checkpoints, and
// catches a later rollback of the archive with its checkpoints; kansa prove
// gives a proof that kansa verify-proof checks; a collector whose log state
// was lost rebuilds it from the manifests and goes on chaining.
func TestVerifyCommand(t *testing.T) {
	needBinary(t)
	data := t.TempDir()
	s := startServe(t, data)
	postEvents(t, s.url, "v1", 300)
	s.stop(t)
	if _, err := os.Stat(filepath.Join(data, "checkpoint.key")); err != nil {
		t.Fatalf("no generated signing key: %v", err)
	}

	out, err := run(t, nil, "verify", "--data", data)
	if err != nil || !strings.Contains(string(out), "\nOK: 1 manifest, 1 file, 300 events") || !strings.Contains(string(out), "note  trusting key kansa-w") {
		t.Fatalf("clean archive: %v\n%s", err, out)
	}

	if out, err := run(t, nil, "reconcile", "--data", data, "--format", "json"); err != nil || !strings.Contains(string(out), `"total":{"source":"","day":"","received":300,"archived":300,`) ||
		!strings.Contains(string(out), `"missing":0}]`) {
		t.Fatalf("reconcile of a clean run: %v\n%s", err, out)
	}

	proof, err := run(t, nil, "prove", "--data", data, "v1-123")
	if err != nil {
		t.Fatal(err)
	}
	out, err = run(t, bytes.NewReader(proof), "verify-proof", "-")
	if err != nil || !strings.HasPrefix(string(out), `OK: event "v1-123" is leaf`) || !strings.Contains(string(out), "note: checked with the key the proof names") {
		t.Fatalf("verify-proof: %v\n%s", err, out)
	}
	pubs, _ := filepath.Glob(filepath.Join(data, "archive/_kansa/checkpoints/keys/*.pub"))
	if len(pubs) != 1 {
		t.Fatalf("public keys beside the checkpoints: %v", pubs)
	}
	pf := filepath.Join(t.TempDir(), "proof.json")
	os.WriteFile(pf, bytes.Replace(proof, []byte(`\"action\":\"update\"`), []byte(`\"action\":\"delete\"`), 1), 0o644)
	if out, err := run(t, nil, "verify-proof", "--key", pubs[0], pf); exitCode(err) != 1 || !strings.Contains(err.Error(), "proof does not check") {
		t.Fatalf("a changed event's proof: exit %d %v\n%s", exitCode(err), err, out)
	}
	if _, err := run(t, nil, "prove", "--data", data, "no-such-event"); exitCode(err) != 1 || !strings.Contains(err.Error(), "once its batch is archived") {
		t.Fatalf("prove of an unknown id: exit %d, %v", exitCode(err), err)
	}

	// A key that appears beside the checkpoints after the first run is not
	// trusted without --accept-new-keys.
	_, vkey, _ := chain.GenerateKey("intruder")
	os.WriteFile(filepath.Join(filepath.Dir(pubs[0]), "intruder.pub"), []byte(vkey+"\n"), 0o644)
	out, err = run(t, nil, "verify", "--data", data)
	if err != nil || !strings.Contains(string(out), "note  key intruder+") || !strings.Contains(string(out), "is not trusted") {
		t.Fatalf("a new key: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(filepath.Dir(pubs[0]), "intruder.pub"))

	// The log state is lost: the collector rebuilds it from the manifests.
	os.Remove(filepath.Join(data, "chain.json"))
	s = startServe(t, data)
	postEvents(t, s.url, "v2", 100)
	s.stop(t)
	out, err = run(t, nil, "verify", "--data", data)
	if err != nil || !strings.HasPrefix(string(out), "OK: 2 manifests, 2 files, 400 events (") || !strings.Contains(string(out), " 1 log, 2 checkpoints") {
		t.Fatalf("after a restart without the log state: %v\n%s", err, out)
	}

	// Roll back the archive with its checkpoints: the second batch, its
	// manifest and its checkpoint go. Only what verify remembers shows it.
	arch := filepath.Join(data, "archive")
	second := regexp.MustCompile(`(kansa-\w+-|/)0*[2-9]\d*-\d{20}\.|/0{19}2$`) // batch 2's files and manifest; checkpoints at size 2
	removed := 0
	filepath.WalkDir(arch, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && second.MatchString(p) {
			os.Remove(p)
			removed++
		}
		return nil
	})
	if removed != 3 {
		t.Fatalf("removed %d objects, want the second batch's file, manifest and checkpoint", removed)
	}
	out, err = run(t, nil, "verify", "--data", data, "--state", "none")
	if err != nil || !strings.Contains(string(out), "OK: 1 manifest,") {
		t.Fatalf("the rolled-back archive is consistent in itself: %v\n%s", err, out)
	}
	out, err = run(t, nil, "verify", "--data", data)
	if exitCode(err) != 1 || !strings.Contains(string(out), "witness checkpoint covers 2 leaves") || !strings.Contains(string(out), "FAILED") {
		t.Fatalf("rollback against the remembered checkpoint: exit %d\n%s", exitCode(err), out)
	}
}
