package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/input/audited"
	"github.com/kansa-audit/kansa/internal/input/cloudtrail"
	"github.com/kansa-audit/kansa/internal/input/pgaudit"
	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// importFormats are what kansa import reads.
var importFormats = map[string]string{
	"pgaudit":       "a PostgreSQL server log (stderr), pgAudit entries; --log-line-prefix gives its prefix",
	"pgaudit-csv":   "a PostgreSQL csvlog, pgAudit entries",
	"pgaudit-json":  "a PostgreSQL jsonlog, pgAudit entries",
	"auditloggable": "AuditLoggable JSON lines (and kansa.audit/v1 lines)",
	"cloudtrail":    "CloudTrail log files (.json or .json.gz, a downloaded bucket tree); digest files are skipped",
	"audited":       "the audited gem's audits table: give a PostgreSQL connection string instead of a path (--table to name another table)",
}

// importLedger is <data>/imports.json: for each file, how far it was
// imported, so that a second run skips what is done and resumes what is not.
type importLedger map[string]importedFile

type importedFile struct {
	// Params: what the file was read with (the pgaudit prefix and time
	// zone); other params read it again.
	Params string `json:"params,omitempty"`
	Size   int64  `json:"size"`
	Offset int64  `json:"offset"` // bytes durable in the WAL
	Format string `json:"format"`
}

func runImport(ctx context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("import", stderr)
	var c common
	c.register(fs)
	format := fs.String("format", "", "what the paths hold: pgaudit, pgaudit-csv, pgaudit-json, auditloggable, cloudtrail or audited (below)")
	prefix := fs.String("log-line-prefix", pgaudit.PrefixDebian, "the server's log_line_prefix (--format pgaudit); RDS and Aurora use "+pgaudit.PrefixRDS)
	tz := fs.String("log-timezone", "UTC", "the server's log_timezone, to read zone abbreviations in log times")
	source := fs.String("source", "", "stamped on the events (default pgaudit:import, audited:import, import; CloudTrail's are cloudtrail:ACCOUNT)")
	tenant := fs.String("tenant", "", "stamped on events without a tenant (default: the config's tenant)")
	table := fs.String("table", "audits", "the audited gem's table (--format audited)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa import --format FORMAT [flags] PATH…\n\nReads existing files (folders are walked, in name order) through kansa's\nmappings into the archive, and exits 0 once every event read is archived.\nRunning it again skips what was imported and resumes what was not\n(<data>/imports.json, which also notes the prefix a file was read\nwith: another prefix reads it again). Event ids come from each entry's\nfile and position (CloudTrail: its eventID; audited: the row id), so\nnothing is archived twice.\n\nFormats:")
		for _, k := range slices.Sorted(maps.Keys(importFormats)) {
			fmt.Fprintf(stderr, "  %-14s %s\n", k, importFormats[k])
		}
		fmt.Fprintln(stderr, "\nFlags:")
		fs.PrintDefaults()
	}
	paths, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if _, ok := importFormats[*format]; !ok {
		fs.Usage()
		return &exitError{2, fmt.Errorf("--format %q: want pgaudit, pgaudit-csv, pgaudit-json, auditloggable, cloudtrail or audited", *format)}
	}
	if len(paths) == 0 {
		fs.Usage()
		return &exitError{2, errors.New("give the files or folders to import")}
	}
	cfg, err := c.load()
	if err != nil {
		return err
	}
	imp := &importer{format: *format, source: *source, tenant: firstOf(*tenant, cfg.Tenant), stderr: stderr}
	if imp.source == "" {
		imp.source = "import"
		if strings.HasPrefix(*format, "pgaudit") {
			imp.source = "pgaudit:import"
		}
		if *format == "audited" {
			imp.source = "audited:import"
		}
	}
	if *format == "pgaudit" {
		if imp.prefix, err = pgaudit.ParsePrefix(*prefix); err != nil {
			return &exitError{2, err}
		}
	}
	if imp.loc, err = archive.LoadLocation(*tz); err != nil {
		return &exitError{2, fmt.Errorf("--log-timezone: %w", err)}
	}
	var files []string
	for _, p := range paths {
		if *format == "audited" {
			files = append(files, p) // connection strings
			continue
		}
		err := filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return &exitError{2, err}
		}
	}
	n, err := node.Open(cfg, newLogger(stderr))
	if err != nil {
		if errors.Is(err, node.ErrLocked) {
			return fmt.Errorf("%w; stop it, or import into another --data", err)
		}
		return err
	}
	imp.n = n
	if err := n.Start(); err != nil {
		n.Shutdown(context.Background())
		return err
	}
	imp.ledgerPath = filepath.Join(n.Dir, "imports.json")
	imp.ledger, err = loadLedger(imp.ledgerPath)
	if err != nil {
		n.Shutdown(context.Background())
		return err
	}
	start := time.Now()
	var runErr error
	for _, f := range files {
		if *format == "audited" {
			runErr = imp.audited(ctx, f, *table)
		} else {
			runErr = imp.file(ctx, f)
		}
		if runErr != nil {
			break
		}
	}
	imp.progress(true)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace)
	defer cancel()
	if err := n.Shutdown(sctx); err != nil && runErr == nil {
		runErr = err
	}
	if runErr != nil {
		return runErr
	}
	if imp.last > n.Batcher.Delivered() {
		return fmt.Errorf("the archive holds records up to %d of the %d imported; they stay in the WAL and are archived at the next start", n.Batcher.Delivered(), imp.last)
	}
	fmt.Fprintf(stdout, "imported %d events from %d files (%d skipped as already imported; %d lines to the error output) in %s\n",
		imp.events, imp.done, imp.skipped, imp.rejects, time.Since(start).Round(time.Millisecond))
	if imp.digests > 0 {
		fmt.Fprintf(stdout, "%d CloudTrail digest files skipped (they hold hashes, not events)\n", imp.digests)
	}
	return nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

type importer struct {
	n                      *node.Node
	format, source, tenant string
	prefix                 *pgaudit.Prefix
	loc                    *time.Location
	ledger                 importLedger
	ledgerPath             string
	stderr                 io.Writer
	events, rejects        int64
	done, skipped, digests int
	last                   uint64
	lastShown              time.Time
}

// durable appends recs to the WAL and waits for their fsync.
func (imp *importer) durable(ctx context.Context, recs [][]byte) error {
	if len(recs) == 0 {
		return nil
	}
	last, err := imp.n.Ingest.Append(ctx, recs, node.Block)
	if err != nil {
		return err
	}
	if err := imp.n.Ingest.Sync(ctx, last, 0); err != nil {
		return err
	}
	imp.last = last
	return nil
}

// note records how far key (a file, or an audited table) is imported, and
// saves the ledger; call it once what it covers is durable.
func (imp *importer) note(key string, rec importedFile) error {
	imp.ledger[key] = rec
	data, _ := json.MarshalIndent(imp.ledger, "", " ")
	return objstore.WriteFile(imp.ledgerPath, data)
}

// params is what a file is read with, beyond its format.
func (imp *importer) params() string {
	if imp.format != "pgaudit" && imp.format != "pgaudit-csv" && imp.format != "pgaudit-json" {
		return ""
	}
	p := ""
	if imp.prefix != nil {
		p = imp.prefix.String()
	}
	return "prefix=" + p + " tz=" + imp.loc.String()
}

func loadLedger(path string) (importLedger, error) {
	l := importLedger{}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

func (imp *importer) progress(final bool) {
	if !isTerminal(imp.stderr) || (!final && time.Since(imp.lastShown) < 200*time.Millisecond) {
		return
	}
	imp.lastShown = time.Now()
	fmt.Fprintf(imp.stderr, "\rimport: %d files, %d events, %d to the error output", imp.done+imp.skipped, imp.events, imp.rejects)
	if final {
		fmt.Fprintln(imp.stderr)
	}
}

// file imports one file from where the ledger says it stopped, appending
// its events in groups and saving its offset once they are durable.
func (imp *importer) file(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return err
	}
	rec := imp.ledger[abs]
	if rec.Format != imp.format || rec.Offset > fi.Size() || rec.Params != imp.params() {
		rec = importedFile{Format: imp.format, Params: imp.params()}
	}
	if rec.Offset == fi.Size() && rec.Size == fi.Size() {
		imp.skipped++
		return nil
	}
	f, err := os.Open(abs)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(rec.Offset, io.SeekStart); err != nil {
		return err
	}
	fileKey := filepath.Base(abs)
	received := time.Now()
	var recs [][]byte
	var buf []byte
	var offset int64 // where the group appended so far ends
	flush := func() error {
		if len(recs) == 0 {
			return nil
		}
		if err := imp.durable(ctx, recs); err != nil {
			return err
		}
		recs, buf = recs[:0], buf[:0]
		rec.Offset, rec.Size = offset, fi.Size()
		imp.progress(false)
		return imp.note(abs, rec)
	}
	add := func(ev *event.Event, err error, line []byte, end int64) error {
		start := len(buf)
		if err != nil {
			buf = imp.n.Ingest.AppendReject(buf, err, line, imp.source, imp.tenant, received)
			imp.rejects++
		} else {
			buf = node.AppendEvent(buf, ev, received)
			imp.events++
		}
		recs = append(recs, buf[start:len(buf):len(buf)])
		offset = end
		if len(recs) >= 2000 {
			return flush()
		}
		return nil
	}
	// Records alias buf until flushed (a record keeps the array it was
	// written in when buf grows).
	buf = make([]byte, 0, 8<<20)
	switch imp.format {
	case "cloudtrail":
		if cloudtrail.IsDigest(filepath.ToSlash(abs)) {
			imp.digests++
			return nil
		}
		raw, err := io.ReadAll(f)
		if err != nil {
			return err
		}
		data, err := cloudtrail.Decompress(raw)
		if err == nil {
			err = cloudtrail.Records(data, func(i int, r []byte) error {
				ev, err := cloudtrail.Event(r, filepath.ToSlash(path), i, imp.tenant)
				if imp.source != "import" && ev != nil {
					ev.Source = imp.source
				}
				return add(ev, err, r, 0)
			})
		}
		if err != nil {
			// A file that is not CloudTrail's goes to the error output whole.
			if err := add(nil, &mapping.Error{Type: "map", Err: fmt.Errorf("%s: %w", path, err)}, raw, 0); err != nil {
				return err
			}
		}
	case "auditloggable":
		br := bufio.NewReaderSize(f, 1<<20)
		off := rec.Offset
		for {
			line, err := br.ReadBytes('\n')
			if len(line) > 0 {
				off += int64(len(line))
				l := line
				if l[len(l)-1] == '\n' {
					l = l[:len(l)-1]
				}
				if len(l) > 0 {
					ev, merr := mapping.Map(l, mapping.Auto, mapping.Defaults{Source: imp.source, Tenant: imp.tenant})
					if merr == nil && ev.ID == "" {
						ev.ID = event.DeriveID([]byte("import"), []byte(fileKey), fmt.Appendf(nil, "%d", off))
					}
					if err := add(ev, merr, l, off); err != nil {
						return err
					}
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
		}
	default:
		format := map[string]pgaudit.Format{"pgaudit": pgaudit.Stderr, "pgaudit-csv": pgaudit.CSV, "pgaudit-json": pgaudit.JSON}[imp.format]
		r := pgaudit.NewReader(f, rec.Offset, format, imp.prefix, imp.loc)
		r.Final()
		entries, from := 0, rec.Offset
		defer func() {
			if entries == 0 && fi.Size() > from {
				fmt.Fprintf(imp.stderr, "kansa import: no pgAudit entries in %s: is it a %s log, and --log-line-prefix the server's (%s)?\n", path, imp.format, imp.prefix)
			}
		}()
		for {
			var e pgaudit.Entry
			err := r.Next(&e)
			if err == io.EOF {
				offset = fi.Size()
				break
			}
			var bad *pgaudit.EntryError
			if errors.As(err, &bad) {
				if err := add(nil, &mapping.Error{Type: "map", Err: bad.Err}, bad.Raw, r.Offset()); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			ev := pgaudit.Event(&e, imp.source, imp.tenant, fileKey)
			var verr error
			if err := ev.Validate(); err != nil {
				verr = &mapping.Error{Type: "invalid", Err: err}
			}
			entries++
			if err := add(ev, verr, e.Raw, r.Offset()); err != nil {
				return err
			}
		}
	}
	offset = fi.Size()
	if err := flush(); err != nil {
		return err
	}
	rec.Offset, rec.Size = fi.Size(), fi.Size()
	imp.done++
	return imp.note(abs, rec)
}

// audited copies an audited gem's table from PostgreSQL, in pages by id;
// the ledger keeps the last id whose event is durable, so a second run
// copies only rows added since.
func (imp *importer) audited(ctx context.Context, dsn, table string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return &exitError{2, fmt.Errorf("--format audited wants a PostgreSQL connection string: %w", err)}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	// The ledger's key names the database and table, not the password.
	key := fmt.Sprintf("audited postgres://%s@%s:%d/%s %s", cfg.User, cfg.Host, cfg.Port, cfg.Database, table)
	rec := imp.ledger[key]
	r, err := audited.NewReader(ctx, conn, table, rec.Offset)
	if err != nil {
		return err
	}
	received := time.Now()
	for {
		rows, err := r.Next(ctx, 2000)
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			break
		}
		var buf []byte
		recs := make([][]byte, 0, len(rows))
		for i := range rows {
			start := len(buf)
			ev, err := audited.Event(&rows[i], table, imp.source, imp.tenant)
			if err != nil {
				line, _ := json.Marshal(rows[i])
				buf = imp.n.Ingest.AppendReject(buf, err, line, imp.source, imp.tenant, received)
				imp.rejects++
			} else {
				buf = node.AppendEvent(buf, ev, received)
				imp.events++
			}
			recs = append(recs, buf[start:len(buf):len(buf)])
		}
		if err := imp.durable(ctx, recs); err != nil {
			return err
		}
		if err := imp.note(key, importedFile{Offset: r.LastID, Format: "audited"}); err != nil {
			return err
		}
		imp.progress(false)
	}
	imp.done++
	return nil
}
