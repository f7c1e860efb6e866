// Package cli is kansa's command line: one function per subcommand, each
// parsing its own flags, loading the config, and running until done or
// signalled.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"strings"

	"github.com/kansa-audit/kansa/internal/config"
)

// Version is set at build time with -ldflags "-X …/cli.Version=…".
var Version = "dev"

// exitError carries an exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error
}

var commands = []command{
	{"serve", "run the daemon: HTTP ingest, WAL, archive, search", runServe},
	{"route", "sidecar: split a mixed log stream on stdin into app logs (stdout) and audit events", runRoute},
	{"search", "find events: kansa search actor:User:42 action:update", runSearch},
	{"history", "a record's timeline, or an actor's: kansa history Order:17", runHistory},
	{"counts", "events per day by action, source, user agent, actor or outcome", runCounts},
	{"sql", "read-only SQL over the events relation: kansa sql \"SELECT action, count(*) FROM events GROUP BY 1\"", runSQL},
	{"ddl", "print CREATE TABLE for Athena, Trino or DuckDB over the Parquet archive", runDDL},
	{"verify", "check the archive against its hashes, logs and signed checkpoints", runVerify},
	{"prove", "an inclusion proof of one event against a signed checkpoint", runProve},
	{"verify-proof", "check a proof from kansa prove (no data directory needed)", runVerifyProof},
	{"reconcile", "did we lose anything? received, archived, errors, dropped per source and day; seq gaps", runReconcile},
	{"import", "backfill existing files: pgAudit server logs, AuditLoggable lines", runImport},
	{"reindex", "rebuild the search index from the archive", runReindex},
	{"wal", "WAL maintenance: kansa wal repair", runWAL},
	{"version", "print the version", func(_ context.Context, _ []string, _ io.Reader, stdout, _ io.Writer) error {
		fmt.Fprintln(stdout, "kansa", Version)
		return nil
	}},
}

// Main runs the command line and returns the process exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) < 1 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) < 1 {
			return 2
		}
		return 0
	}
	if path := os.Getenv("KANSA_CPUPROFILE"); path != "" {
		// For profiling: KANSA_CPUPROFILE=cpu.out kansa route < in > out
		if f, err := os.Create(path); err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	if path := os.Getenv("KANSA_TRACE"); path != "" {
		// For latency work: KANSA_TRACE=trace.out kansa serve; go tool trace trace.out
		if f, err := os.Create(path); err == nil {
			trace.Start(f)
			defer func() { trace.Stop(); f.Close() }()
		}
	}
	for _, c := range commands {
		if c.name == args[0] {
			err := c.run(context.Background(), args[1:], stdin, stdout, stderr)
			if err == nil {
				return 0
			}
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			var ee *exitError
			if errors.As(err, &ee) {
				if ee.err != nil {
					fmt.Fprintf(stderr, "kansa %s: %v\n", c.name, ee.err)
				}
				return ee.code
			}
			fmt.Fprintf(stderr, "kansa %s: %v\n", c.name, err)
			return 1
		}
	}
	fmt.Fprintf(stderr, "kansa: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "kansa — audit events apart from application logs, durable, archived and searchable")
	fmt.Fprintln(w, "\nUsage: kansa <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-13s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE and --data DIR (default ./kansa-data); `kansa <command> -h` lists its flags.")
}

// common are the flags every stateful command has.
type common struct {
	config string
	data   string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "", "YAML config `file` (every setting has a default)")
	fs.StringVar(&c.data, "data", "", "state `dir`ectory (default ./kansa-data, or data: in the config)")
}

// parse parses the flags (no positional arguments) and loads the config.
func (c *common) parse(fs *flag.FlagSet, args []string) (config.Config, error) {
	if err := fs.Parse(args); err != nil {
		return config.Config{}, usageError(err)
	}
	if fs.NArg() > 0 {
		return config.Config{}, &exitError{2, fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	return c.load()
}

// load reads the config and applies --data.
func (c *common) load() (config.Config, error) {
	cfg, err := config.Load(c.config)
	if err != nil {
		return cfg, err
	}
	if c.data != "" {
		cfg.Data = c.data
	}
	return cfg, nil
}

// parseInterspersed parses flags wherever they appear among the arguments
// (kansa search action:update --format json) and returns the rest in order.
// "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, terms []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			terms = append(terms, args[i+1:]...)
			i = len(args)
		case len(a) < 2 || a[0] != '-' || isExclusion(a):
			terms = append(terms, a)
		default:
			flags = append(flags, a)
			name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
			if f := fs.Lookup(name); f != nil && !hasValue && !isBoolFlag(f) && i+1 < len(args) {
				flags = append(flags, args[i+1]) // the flag's value
				i++
			}
		}
	}
	if err := fs.Parse(flags); err != nil {
		return nil, usageError(err)
	}
	return terms, nil
}

// usageError makes a flag error exit with status 2; the flag package has
// already printed it with the usage.
func usageError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &exitError{2, nil}
}

// isExclusion reports whether an argument that starts with "-" is a query
// term that excludes (-action:*.view, -"two words") rather than a flag:
// flags have no colon in their name and do not start with a quote.
func isExclusion(a string) bool {
	if len(a) < 2 || a[0] != '-' || a[1] == '-' {
		return false
	}
	name, _, _ := strings.Cut(a[1:], "=")
	return strings.Contains(name, ":") || a[1] == '"'
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("kansa "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func newLogger(w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	if strings.EqualFold(os.Getenv("KANSA_LOG"), "debug") {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
