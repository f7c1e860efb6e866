// Command mixgen writes a deterministic mixed stream of application log
// lines and audit lines, as a containerised Rails service prints them, for
// benchmarking and testing kansa's route mode.
//
//	go run ./bench/mixgen -n 2000000 -seed 1 > mixed.log
//	go run ./bench/mixgen -n 100000 -huge -keys keys.txt > mixed.log
//
// With -keys, the key of every audit line (its AuditLoggable request_uuid
// or KansaSDK id) is written to that file, one per line, in stream order:
// each must appear in the archive exactly once.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kansa-audit/kansa/internal/mixstream"
)

func main() {
	err := run(os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "mixgen:", err)
		os.Exit(2)
	}
}

func run(args []string, stdout io.Writer) (err error) {
	fs := flag.NewFlagSet("mixgen", flag.ContinueOnError)
	n := fs.Int("n", 100_000, "number of lines to write")
	seed := fs.Int64("seed", 1, "seed; equal flags give byte-identical output")
	ratio := fs.Float64("audit-ratio", mixstream.DefaultAuditRatio, "fraction of lines that are audit lines (0 to 1)")
	meanLen := fs.Int("mean-len", mixstream.DefaultMeanLineLen, "mean line length in bytes")
	huge := fs.Bool("huge", false, "include ~100 KB audit lines, about one in 5,000")
	keysPath := fs.String("keys", "", "also write the audit keys, one per line, to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; all options are flags (see -h)", fs.Arg(0))
	}
	if *n < 0 || *ratio < 0 || *ratio > 1 || *meanLen <= 0 {
		return errors.New("-n and -mean-len must be positive and -audit-ratio between 0 and 1")
	}
	cfg := mixstream.Config{Seed: *seed, AuditRatio: *ratio, MeanLineLen: *meanLen, Huge: *huge}
	if *ratio == 0 {
		cfg.AuditRatio = -1 // Config's zero means the default; the flag's 0 means none
	}
	g := mixstream.New(cfg)

	if *keysPath == "" {
		if _, err := g.WriteLines(stdout, *n); err != nil {
			return fmt.Errorf("write stream: %w", err)
		}
		return nil
	}

	f, err := os.Create(*keysPath)
	if err != nil {
		return fmt.Errorf("create keys file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close keys file: %w", cerr)
		}
	}()
	out := bufio.NewWriterSize(stdout, 256<<10)
	keys := bufio.NewWriter(f)
	for range *n {
		l := g.Next()
		out.Write(l.Text)
		if err := out.WriteByte('\n'); err != nil {
			return fmt.Errorf("write stream: %w", err)
		}
		if l.Key != "" {
			keys.WriteString(l.Key)
			keys.WriteByte('\n')
		}
	}
	if err := out.Flush(); err != nil {
		return fmt.Errorf("write stream: %w", err)
	}
	if err := keys.Flush(); err != nil {
		return fmt.Errorf("write keys file: %w", err)
	}
	return nil
}
