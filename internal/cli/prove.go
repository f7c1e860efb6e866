package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kansa-audit/kansa/internal/chain"
	"github.com/kansa-audit/kansa/internal/verify"
)

func runProve(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("prove", stderr)
	var c common
	c.register(fs)
	since := fs.String("since", "", "look only in files with events from this `time` on (YYYY-MM-DD or RFC 3339)")
	until := fs.String("until", "", "look only in files with events before this `time`")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa prove [flags] EVENT_ID > proof.json\n\nPrints an inclusion proof of the archived event against a signed checkpoint,\nfor anyone to check with `kansa verify-proof` or by hand\n(docs/tamper-evidence.md).\n\nFlags:")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fs.Usage()
		return &exitError{2, errors.New("give one event id")}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	opt := verify.ProveOptions{ID: rest[0]}
	if opt.Since, opt.Until, err = parseWindow(*since, *until); err != nil {
		return err
	}
	dir, err := filepath.Abs(cfg.Data)
	if err != nil {
		return err
	}
	if opt.Archive, opt.Checkpoints, err = openArchive(cfg, dir, stderr); err != nil {
		return err
	}
	p, err := verify.Prove(ctx, opt)
	if errors.Is(err, verify.ErrNoEvent) {
		// Events wait in the WAL until their batch is archived, and
		// retention deletes old batches: say so, as either may be why.
		return &exitError{1, fmt.Errorf("%w (an event is found once its batch is archived, and not after retention has expired its batch; `kansa verify` lists expired batches)", err)}
	}
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(p)
}

func runVerifyProof(_ context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("verify-proof", stderr)
	var keyFiles stringsFlag
	fs.Var(&keyFiles, "key", "trust the verifier keys in this `file` (NAME+ID+KEY lines); repeatable. Without it, the key the proof names is used, and only says the proof is consistent")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa verify-proof [--key FILE] PROOF.json   (- for stdin)\n\nChecks a proof made by `kansa prove`: the event hashes up to its file's root,\nthe file's root is in its batch's leaf, the leaf hashes up to the signed\ncheckpoint's root, and the checkpoint's signature is by a trusted key.\nNeeds no data directory.\n\nFlags:")
		fs.PrintDefaults()
	}
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		fs.Usage()
		return &exitError{2, errors.New("give one proof file")}
	}
	var data []byte
	if rest[0] == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(rest[0])
	}
	if err != nil {
		return &exitError{2, err}
	}
	var p verify.Proof
	if err := json.Unmarshal(data, &p); err != nil {
		return &exitError{1, fmt.Errorf("%s: not a proof: %w", rest[0], err)}
	}
	var keys []*chain.Verifier
	for _, f := range keyFiles {
		ks, err := readKeys(f)
		if err != nil {
			return &exitError{2, err}
		}
		keys = append(keys, ks...)
	}
	pinned := len(keys) > 0
	if !pinned {
		k, err := chain.NewVerifier(p.Key)
		if err != nil {
			return &exitError{1, fmt.Errorf("the proof names no usable key (%v); pass --key", err)}
		}
		keys = []*chain.Verifier{k}
	}
	cp, err := p.Check(keys)
	if err != nil {
		return &exitError{1, fmt.Errorf("proof does not check: %w", err)}
	}
	id := "the event"
	var ev struct {
		ID string `json:"id"`
	}
	if json.Unmarshal([]byte(p.Event), &ev) == nil && ev.ID != "" {
		id = fmt.Sprintf("event %q", ev.ID)
	}
	fmt.Fprintf(stdout, "OK: %s is leaf %d of %s, in batch leaf %d of log %s, under the checkpoint of size %d signed by %s",
		id, p.FileIndex, p.File, p.LogIndex, cp.Origin, cp.Size, cp.SignedBy[0])
	if !cp.Time.IsZero() {
		fmt.Fprintf(stdout, " at %s", cp.Time.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(stdout)
	if !pinned {
		fmt.Fprintf(stdout, "note: checked with the key the proof names (%s); compare it with one you hold, or pass --key\n", cp.SignedBy[0])
	}
	return nil
}
