package pgaudit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/input"
	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/objstore"
)

// Config is one pgAudit input of kansa serve (inputs.pgaudit in the config).
type Config struct {
	// Name makes the source pgaudit:NAME and names the checkpoint.
	Name string `yaml:"name"`
	// Dir is the server's log directory (log_directory); Pattern picks its
	// files (a glob, default "*.log" for stderr, "*.csv", "*.json").
	Dir     string `yaml:"dir"`
	Pattern string `yaml:"pattern"`
	// Format is stderr (default), csv or json; LogLinePrefix and
	// LogTimezone as for kansa import.
	Format        string `yaml:"format"`
	LogLinePrefix string `yaml:"log_line_prefix"`
	LogTimezone   string `yaml:"log_timezone"`
	// Tenant is stamped on the events. Default: the config's tenant.
	Tenant string `yaml:"tenant"`
	// PollInterval is how often the directory is looked at for more.
	// Default 1s.
	PollInterval time.Duration `yaml:"poll_interval"`
}

// position is the checkpoint: the file being read and how far its
// entries are durable. Files that sort before it are done.
type position struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
}

// Tailer follows a log directory: it reads the files in order of
// modification (then name), waits at the end of the newest for more, moves
// on when a newer file appears (rotation), and saves its position only once
// the events before it are durable. After a restart it resumes there; an
// entry read twice (a crash between append and checkpoint) gets the same id.
type Tailer struct {
	cfg    Config
	format Format
	prefix *Prefix
	loc    *time.Location
	source string
	ckpt   string
	app    input.Appender
	log    *slog.Logger
	now    func() time.Time
}

// NewTailer checks cfg. stateDir holds the checkpoint file.
func NewTailer(cfg Config, tenant, stateDir string, app input.Appender, log *slog.Logger, loc *time.Location) (*Tailer, error) {
	if cfg.Name == "" || cfg.Dir == "" {
		return nil, errors.New("inputs.pgaudit: name and dir are required")
	}
	f, err := ParseFormat(cfg.Format)
	if err != nil {
		return nil, fmt.Errorf("inputs.pgaudit %s: %w", cfg.Name, err)
	}
	t := &Tailer{cfg: cfg, format: f, loc: loc, source: "pgaudit:" + cfg.Name, app: app, log: log, now: time.Now,
		ckpt: filepath.Join(stateDir, "pgaudit-"+cfg.Name+".json")}
	if t.cfg.Tenant == "" {
		t.cfg.Tenant = tenant
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, err
	}
	if t.cfg.PollInterval <= 0 {
		t.cfg.PollInterval = time.Second
	}
	if t.cfg.Pattern == "" {
		t.cfg.Pattern = map[Format]string{Stderr: "*.log", CSV: "*.csv", JSON: "*.json"}[f]
	}
	if f == Stderr {
		p := cfg.LogLinePrefix
		if p == "" {
			p = PrefixDebian
		}
		if t.prefix, err = ParsePrefix(p); err != nil {
			return nil, fmt.Errorf("inputs.pgaudit %s: %w", cfg.Name, err)
		}
	}
	return t, nil
}

// Source is the events' source.
func (t *Tailer) Source() string { return t.source }

func (t *Tailer) load() (position, error) {
	var p position
	data, err := os.ReadFile(t.ckpt)
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	return p, json.Unmarshal(data, &p)
}

func (t *Tailer) save(p position) error {
	data, _ := json.Marshal(p)
	return objstore.WriteFile(t.ckpt, data)
}

// files lists the directory's log files, oldest first.
func (t *Tailer) files() ([]string, error) {
	names, err := filepath.Glob(filepath.Join(t.cfg.Dir, t.cfg.Pattern))
	if err != nil {
		return nil, err
	}
	type fm struct {
		name string
		mod  time.Time
	}
	var fs []fm
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil && fi.Mode().IsRegular() {
			fs = append(fs, fm{filepath.Base(n), fi.ModTime()})
		}
	}
	slices.SortFunc(fs, func(a, b fm) int {
		if c := a.mod.Compare(b.mod); c != 0 {
			return c
		}
		return compareStrings(a.name, b.name)
	})
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.name
	}
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Run follows the directory until ctx ends.
func (t *Tailer) Run(ctx context.Context) error {
	pos, err := t.load()
	if err != nil {
		return fmt.Errorf("pgaudit %s: checkpoint %s: %w", t.cfg.Name, t.ckpt, err)
	}
	tick := time.NewTicker(t.cfg.PollInterval)
	defer tick.Stop()
	var lastSize int64 = -1
	warned := false
	for {
		files, err := t.files()
		if err != nil {
			return err
		}
		if len(files) == 0 && !warned {
			t.log.Warn("no log files to follow yet (the input waits for them): check dir and pattern", "dir", t.cfg.Dir, "pattern", t.cfg.Pattern)
			warned = true
		}
		// The file to read: the checkpoint's, or the first after it.
		i := slices.Index(files, pos.File)
		if i < 0 {
			if pos.File != "" && len(files) > 0 {
				t.log.Warn("the checkpoint's log file is gone; starting at the oldest file there is", "file", pos.File)
			}
			if len(files) > 0 {
				pos = position{File: files[0]}
			}
			i = 0
		}
		if len(files) > 0 {
			newer := i+1 < len(files)
			fi, err := os.Stat(filepath.Join(t.cfg.Dir, pos.File))
			if err == nil && pos.Offset > fi.Size() {
				// Truncated in place (log_truncate_on_rotation): a new log.
				t.log.Warn("the log file is shorter than the position read; reading it from the start", "file", pos.File, "offset", pos.Offset, "size", fi.Size())
				pos.Offset, lastSize = 0, -1
			}
			if err == nil {
				// The last entry is whole when the file was rotated or has
				// not grown since the last look.
				final := newer || fi.Size() == lastSize
				next, n, err := t.read(ctx, pos, final)
				if err != nil {
					return err
				}
				lastSize = fi.Size()
				if n > 0 || next != pos {
					pos = next
					if err := t.save(pos); err != nil {
						return err
					}
				}
				if newer && pos.Offset >= fi.Size() {
					pos, lastSize = position{File: files[i+1]}, -1
					if err := t.save(pos); err != nil {
						return err
					}
					continue
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// read appends the entries of pos.File from pos.Offset and returns the new
// position once they are durable.
func (t *Tailer) read(ctx context.Context, pos position, final bool) (position, int, error) {
	f, err := os.Open(filepath.Join(t.cfg.Dir, pos.File))
	if err != nil {
		return pos, 0, err
	}
	defer f.Close()
	if _, err := f.Seek(pos.Offset, io.SeekStart); err != nil {
		return pos, 0, err
	}
	r := NewReader(f, pos.Offset, t.format, t.prefix, t.loc)
	if final {
		r.Final()
	}
	total := 0
	var evs []*event.Event
	var bad []input.Bad
	flush := func() error {
		if len(evs)+len(bad) == 0 {
			pos.Offset = r.Offset()
			return nil
		}
		last, err := t.app.Append(ctx, evs, bad, t.source, t.cfg.Tenant, t.now())
		if err != nil {
			return err
		}
		if err := t.app.Sync(ctx, last, len(evs)); err != nil {
			return err
		}
		total += len(evs) + len(bad)
		evs, bad = evs[:0], bad[:0]
		pos.Offset = r.Offset()
		return nil
	}
	for {
		var e Entry
		err := r.Next(&e)
		if err == io.EOF || errors.Is(err, ErrPartial) {
			return pos, total, flush()
		}
		var bade *EntryError
		if errors.As(err, &bade) {
			bad = append(bad, input.Bad{Err: &mapping.Error{Type: "map", Err: bade.Err}, Line: append([]byte(nil), bade.Raw...)})
			continue
		}
		if err != nil {
			return pos, total, fmt.Errorf("%s: %w", pos.File, err)
		}
		ev := Event(&e, t.source, t.cfg.Tenant, pos.File)
		if verr := ev.Validate(); verr != nil {
			bad = append(bad, input.Bad{Err: &mapping.Error{Type: "invalid", Err: verr}, Line: append([]byte(nil), e.Raw...)})
		} else {
			evs = append(evs, ev)
		}
		if len(evs) >= 1000 {
			if err := flush(); err != nil {
				return pos, total, err
			}
		}
	}
}
