package cloudtrail

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/input"
	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/metrics"
	"github.com/kansa-audit/kansa/internal/objstore"
	"github.com/kansa-audit/kansa/internal/objstore/s3store"
)

// Config is one entry of inputs.cloudtrail. It reads a queue (QueueURL)
// or polls a bucket (Bucket), not both.
type Config struct {
	// Name names the input's state file and its log lines.
	Name string `yaml:"name"`
	// QueueURL is the SQS queue CloudTrail's (or the bucket's) notifications
	// arrive on, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/trail.
	QueueURL string `yaml:"queue_url"`
	// Bucket and Prefix: poll this bucket's prefix (e.g. "AWSLogs/") for
	// new log files instead of reading a queue.
	Bucket string `yaml:"bucket"`
	Prefix string `yaml:"prefix"`
	// PollInterval is how often the bucket is listed. Default 1m.
	PollInterval time.Duration `yaml:"poll_interval"`
	// Region is the queue's and the bucket's AWS region. Empty: the
	// queue's from its host name (us-east-1 when the host does not say),
	// the bucket's from AWS_REGION or the shared config.
	Region string `yaml:"region"`
	// Endpoint is the URL of an S3-compatible server to read files from.
	// Empty: AWS S3.
	Endpoint string `yaml:"endpoint"`
	// PathStyle addresses buckets in the URL path; unset: when Endpoint is set.
	PathStyle *bool `yaml:"path_style"`
	// Profile is the shared AWS config profile. Credentials come from the
	// SDK's standard chain, as for archive.s3.
	Profile string `yaml:"profile"`
	// Wait is how long one receive waits for a message (SQS long
	// polling, at most 20s). Default 20s.
	Wait time.Duration `yaml:"wait"`
	// VisibilityTimeout hides a received message from other receivers while
	// its files are read and made durable. Default 5m.
	VisibilityTimeout time.Duration `yaml:"visibility_timeout"`
	// MaxReceives is how many times a message whose files cannot be read
	// (missing, access denied) is received (as SQS counts, or kansa when the
	// server does not) before it is given up: written
	// to the error output as a "dead_letter" record, sent to
	// DeadLetterQueueURL when set, and deleted. Default 5.
	MaxReceives int `yaml:"max_receives"`
	// DeadLetterQueueURL receives the body of every message given up.
	DeadLetterQueueURL string `yaml:"dead_letter_queue_url"`
	// Buckets, when set, are the only buckets a notification may name; a
	// message naming another is given up at once. Anyone who may send to
	// the queue could otherwise have kansa read a bucket of their own.
	Buckets []string `yaml:"buckets"`
	// Fetchers is how many files are read from S3 at a time. Default 10
	// (the files of one receive's messages, commonly).
	Fetchers int `yaml:"fetchers"`
	// Tenant is stamped on the events. Default: the config's tenant.
	Tenant string `yaml:"tenant"`
}

// Check reports what is wrong with c and fills in its defaults.
func (c *Config) Check() error {
	switch {
	case c.Name == "":
		return errors.New("a name is required")
	case strings.ContainsAny(c.Name, `/\`) || c.Name == "." || c.Name == "..":
		return fmt.Errorf("name %q: no slashes (it names a file in the data directory)", c.Name)
	case c.Wait%time.Second != 0 || c.VisibilityTimeout%time.Second != 0:
		return errors.New("wait and visibility_timeout: whole seconds (SQS counts in seconds)")
	case c.QueueURL == "" && c.Bucket == "":
		return errors.New("give queue_url (SQS notifications) or bucket (polling)")
	case c.QueueURL != "" && c.Bucket != "":
		return errors.New("give queue_url (SQS notifications) or bucket (polling), not both")
	case strings.ContainsAny(c.Bucket, "/:"):
		return fmt.Errorf("bucket %q: a bucket's name only (a folder inside it goes in prefix)", c.Bucket)
	case c.Prefix != "" && c.Bucket == "":
		return errors.New("prefix is for polling a bucket: give bucket too")
	case c.Wait < 0 || c.Wait > 20*time.Second:
		return errors.New("wait: SQS waits 0s to 20s")
	case c.VisibilityTimeout < 0 || c.VisibilityTimeout > 12*time.Hour:
		return errors.New("visibility_timeout: SQS takes 1s to 12h")
	case c.MaxReceives < 0:
		return errors.New("max_receives must be positive")
	case c.PollInterval < 0:
		return errors.New("poll_interval must be positive")
	case c.Fetchers < 0 || c.Fetchers > 64:
		return errors.New("fetchers: 1 to 64")
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("endpoint %q: give a URL such as http://127.0.0.1:9000", c.Endpoint)
		}
	}
	if c.QueueURL != "" {
		if _, err := newQueue(c.QueueURL, c.Region, nil, 0); err != nil {
			return err
		}
	}
	if c.DeadLetterQueueURL != "" {
		if _, err := newQueue(c.DeadLetterQueueURL, c.Region, nil, 0); err != nil {
			return fmt.Errorf("dead_letter_%w", err)
		}
	}
	if c.Wait == 0 {
		c.Wait = 20 * time.Second
	}
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = 5 * time.Minute
	}
	if c.MaxReceives == 0 {
		c.MaxReceives = 5
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Minute
	}
	if c.Fetchers == 0 {
		c.Fetchers = 10
	}
	return nil
}

// Input reads CloudTrail log files announced on a queue or found in a
// bucket, and hands their records to the node.
type Input struct {
	cfg    Config
	tenant string
	app    input.Appender
	log    *slog.Logger
	ledger ledger

	mu      sync.Mutex
	buckets map[string]objstore.Store // by bucket name
	q, dlq  *queue

	receives     map[string]receipts // queue: by message id
	bucketRegion string              // the region the buckets are read in: region, AWS_REGION, else the queue's

	// Files, when set, counts the files read and durable (polling: and
	// those given up).
	Files *metrics.Counter
}

// New checks cfg; stateDir holds the input's ledger of files read.
func New(ctx context.Context, cfg Config, tenant, stateDir string, app input.Appender, log *slog.Logger) (*Input, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Tenant != "" {
		tenant = cfg.Tenant
	}
	awsCfg, err := s3store.LoadAWSConfig(ctx, cfg.Region, cfg.Profile)
	if err != nil {
		return nil, err
	}
	in := &Input{cfg: cfg, tenant: tenant, app: app, log: log,
		ledger:  ledger{path: filepath.Join(stateDir, "cloudtrail-"+cfg.Name+".json")},
		buckets: map[string]objstore.Store{}}
	in.bucketRegion = cmp.Or(cfg.Region, awsCfg.Region)
	if cfg.QueueURL != "" {
		if in.q, err = newQueue(cfg.QueueURL, cfg.Region, awsCfg.Credentials, cfg.Wait); err != nil {
			return nil, err
		}
		in.bucketRegion = cmp.Or(in.bucketRegion, in.q.region)
	}
	if cfg.DeadLetterQueueURL != "" {
		if in.dlq, err = newQueue(cfg.DeadLetterQueueURL, cfg.Region, awsCfg.Credentials, 0); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// Source names the input in logs and restarts, and is the source of its
// error-output records (its events are cloudtrail:ACCOUNT).
func (in *Input) Source() string { return "cloudtrail:" + in.cfg.Name }

// Run reads until ctx ends or an error the input cannot go past.
func (in *Input) Run(ctx context.Context) error {
	if err := in.ledger.load(); err != nil {
		return fmt.Errorf("cloudtrail %s: %w", in.cfg.Name, err)
	}
	if in.q != nil {
		if err := in.q.check(ctx, "queue_url"); err != nil {
			return err
		}
		return in.runQueue(ctx)
	}
	return in.runPoll(ctx)
}

// store returns the store of a bucket; the first call for the polled
// bucket asks the server for it (s3store's check, which says what to fix).
func (in *Input) store(ctx context.Context, bucket string) (objstore.Store, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if s, ok := in.buckets[bucket]; ok {
		return s, nil
	}
	s, err := s3store.New(ctx, s3store.Config{Bucket: bucket, Region: in.bucketRegion, Endpoint: in.cfg.Endpoint,
		PathStyle: in.cfg.PathStyle, Profile: in.cfg.Profile, SkipBucketCheck: bucket != in.cfg.Bucket,
		Setting: "inputs.cloudtrail[" + in.cfg.Name + "]"}, in.log)
	if err != nil {
		return nil, err
	}
	in.buckets[bucket] = s
	return s, nil
}

// errUnreadable marks a file that could not be fetched because it is not
// there, or this reader may not read it: worth trying again later, and
// given up after MaxReceives. Any other failure (the network, the server,
// the configuration, shutdown) stops the round, and the input starts
// again with nothing counted against the file.
type errUnreadable struct {
	err    error
	denied bool // 403: this object, or every object (credentials, KMS)?
}

func (e errUnreadable) Error() string { return e.err.Error() }
func (e errUnreadable) Unwrap() error { return e.err }

// fetched is a file's bytes, or why they could not be read.
type fetched struct {
	raw []byte
	err error // an errUnreadable, or what stops the round
}

// fetch reads files from S3, up to Fetchers at a time (S3 answers each GET
// after a round trip; one at a time, a backlog of small files would take
// that latency per file).
func (in *Input) fetch(ctx context.Context, objs []Object) []fetched {
	out := make([]fetched, len(objs))
	sem := make(chan struct{}, in.cfg.Fetchers)
	var wg sync.WaitGroup
	for i, o := range objs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			s, err := in.store(ctx, o.Bucket)
			if err != nil {
				out[i].err = err
				return
			}
			out[i].raw, err = s.Get(ctx, o.Key)
			var re *smithyhttp.ResponseError
			switch {
			case err == nil:
			case errors.Is(err, objstore.ErrNotExist):
				out[i].err = errUnreadable{err: fmt.Errorf("%s: %w", o, err)}
			case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden:
				out[i].err = errUnreadable{err: fmt.Errorf("%s: access denied (the credentials need s3:GetObject, and kms:Decrypt for a trail encrypted with KMS): %w", o, err), denied: true}
			default:
				out[i].err = fmt.Errorf("%s: %w", o, err)
			}
		})
	}
	wg.Wait()
	// Refused every file: the credentials or a KMS key, not the files.
	refused := len(out) > 0
	for _, f := range out {
		var u errUnreadable
		refused = refused && errors.As(f.err, &u) && u.denied
	}
	if refused {
		for i := range out {
			// %v: no longer an errUnreadable, so the round stops.
			out[i].err = fmt.Errorf("every file of this round was refused, so nothing is counted against them: %v", out[i].err)
		}
	}
	return out
}

// chunk is how many records go to the WAL in one append.
const chunk = 2000

// ingest appends a fetched file's records, returning the WAL position of
// the last record appended (0: none). A file that is not a CloudTrail log
// goes to the error output whole.
func (in *Input) ingest(ctx context.Context, o Object, raw []byte) (last uint64, n int, err error) {
	now := time.Now()
	var evs []*event.Event
	var bad []input.Bad
	var appendErr error
	flush := func() error {
		if len(evs)+len(bad) == 0 {
			return nil
		}
		l, err := in.app.Append(ctx, evs, bad, in.Source(), in.tenant, now)
		if err != nil {
			appendErr = err
			return err
		}
		last, n = l, n+len(evs)
		evs, bad = evs[:0], bad[:0]
		return nil
	}
	name := o.String()
	data, err := Decompress(raw)
	if err == nil {
		err = Records(data, func(i int, r []byte) error {
			ev, err := Event(r, name, i, in.tenant)
			if err != nil {
				bad = append(bad, input.Bad{Err: &mapping.Error{Type: "map", Err: fmt.Errorf("%s record %d: %w", name, i, err)}, Line: r})
			} else {
				evs = append(evs, ev)
			}
			if len(evs)+len(bad) >= chunk {
				return flush()
			}
			return nil
		})
	} else {
		data = raw
	}
	if appendErr != nil {
		return last, n, appendErr
	}
	if err != nil {
		// Not gzip, not JSON, no Records, or broken past some records
		// (those are kept): the error output keeps the file, up to
		// maxErrorLine; it stays in the bucket either way.
		line := data
		if line == nil {
			line = raw // it did not decompress
		}
		msg := fmt.Errorf("%s: %w", name, err)
		if n := len(line); n > maxErrorLine {
			line = line[:maxErrorLine]
			msg = fmt.Errorf("%s (the first %d of %d bytes): %w", name, maxErrorLine, n, err)
		}
		bad = append(bad, input.Bad{Err: &mapping.Error{Type: "map", Err: msg}, Line: line})
		in.log.Warn("not a CloudTrail log file; sent to the error output", "file", name, "err", err)
	}
	return last, n, flush()
}

// maxErrorLine bounds the copy of a broken file in the error output.
const maxErrorLine = 1 << 20

// round is what one round of reads (a receive's messages, a day folder)
// appended and has to make durable.
type round struct {
	last   uint64      // WAL position of the last record appended
	events int         // events appended
	read   []string    // files done with (read, or given up)
	bad    []input.Bad // error-output records still to append
}

// todo returns the files of objs to read, each once: not digests, not
// other services' logs, not in the ledger.
func (in *Input) todo(objs []Object) []Object {
	var out []Object
	seen := map[Object]bool{}
	for _, o := range objs {
		if seen[o] || IsDigest(o.Key) || !isTrailKey(o.Key) || in.ledger.has(o.String()) {
			continue // named twice, a digest, a folder marker, another service's log, or done
		}
		seen[o] = true
		out = append(out, o)
	}
	return out
}

// isTrailKey reports whether a key can be a CloudTrail log file: not a
// folder marker, and under AWSLogs/ only CloudTrail's and CloudTrail
// Insights' folders (a bucket's S3 events also announce VPC Flow Logs and
// load balancer logs written beside them).
func isTrailKey(key string) bool {
	if strings.HasSuffix(key, "/") {
		return false
	}
	if !strings.HasPrefix(key, "AWSLogs/") && !strings.Contains(key, "/AWSLogs/") {
		return true
	}
	return strings.Contains(key, "/CloudTrail/") || strings.Contains(key, "/CloudTrail-Insight/")
}

// read appends a fetched file's records to r. A file that could not be
// fetched is returned as unreadable; err is an error that stops the round
// (the WAL's).
func (in *Input) read(ctx context.Context, o Object, f fetched, r *round) (unreadable, err error) {
	if errors.As(f.err, new(errUnreadable)) {
		return f.err, nil
	}
	if f.err != nil {
		return nil, f.err
	}
	l, n, err := in.ingest(ctx, o, f.raw)
	if l > 0 {
		r.last = l
	}
	r.events += n
	if err != nil {
		return nil, err
	}
	r.read = append(r.read, o.String())
	return nil, nil
}

// commit ends a round: it appends r.bad, waits until everything appended
// is durable, then notes r.read in the ledger, forgets the entries forget
// names and saves polling's state when save.
func (in *Input) commit(ctx context.Context, r *round, save bool, forget func(file string, at int64) bool) error {
	if len(r.bad) > 0 {
		l, err := in.app.Append(ctx, nil, r.bad, in.Source(), in.tenant, time.Now())
		if err != nil {
			return err
		}
		r.last = l
	}
	if r.last > 0 {
		if err := in.app.Sync(ctx, r.last, r.events); err != nil {
			return err
		}
	}
	if len(r.read) > 0 {
		if err := in.ledger.note(r.read, time.Now().Unix()); err != nil {
			return err
		}
		in.log.Info("CloudTrail files read and durable", "files", len(r.read), "events", r.events)
		if in.Files != nil {
			in.Files.Add(uint64(len(r.read)))
		}
	}
	if err := in.ledger.forget(forget); err != nil {
		return err
	}
	if save {
		return in.ledger.save()
	}
	return nil
}

// ledger remembers the files read (and made durable), so that a message
// delivered twice, or a file listed again, is not read twice. Files are
// noted after their records are durable, so a crash in between reads a
// file again: its events keep their ids (eventID), and readers see each
// once.
//
// The files go to NAME.done, a line each ("UNIXTIME<TAB>s3://bucket/key"),
// appended and fsynced per round, and rewritten with only the files still
// remembered once most of its lines are forgotten ones; polling's state
// (days reached, failed tries) is NAME.json, rewritten when it changes.
type ledger struct {
	path string // NAME.json; NAME.done beside it
	st   struct {
		// Days: polling only; stream folder → the newest day folder
		// listed to its end ("2024/10/12").
		Days map[string]string `json:"days,omitempty"`
		// Fails: polling only; file → polls that could not read it.
		Fails map[string]int `json:"fails,omitempty"`
	}
	done       map[string]int64  // "s3://bucket/key" → when it was read (Unix seconds)
	lines      int               // lines in NAME.done
	lastForget time.Time         // when forgotten files were last dropped
	saved      map[string]string // polling: Days as last saved
}

func (l *ledger) donePath() string { return strings.TrimSuffix(l.path, ".json") + ".done" }

func (l *ledger) has(file string) bool {
	_, ok := l.done[file]
	return ok
}

func (l *ledger) load() error {
	l.st.Days, l.st.Fails, l.done, l.lines = map[string]string{}, map[string]int{}, map[string]int64{}, 0
	l.saved = map[string]string{}
	data, err := os.ReadFile(l.path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err == nil {
		if err := json.Unmarshal(data, &l.st); err != nil {
			return fmt.Errorf("%s: %w", l.path, err)
		}
	}
	if l.st.Days == nil {
		l.st.Days = map[string]string{}
	}
	if l.st.Fails == nil {
		l.st.Fails = map[string]int{}
	}
	maps.Copy(l.saved, l.st.Days)
	data, err = os.ReadFile(l.donePath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for len(data) > 0 {
		line, rest, ok := bytes.Cut(data, []byte{'\n'})
		if !ok {
			break // cut short by a crash: its round was not acknowledged
		}
		data = rest
		at, file, ok := bytes.Cut(line, []byte{'\t'})
		t, err := strconv.ParseInt(string(at), 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("%s: a line that is not TIME<TAB>FILE: %q", l.donePath(), line)
		}
		l.done[string(file)] = t
		l.lines++
	}
	return nil
}

// note appends files, read at now, to NAME.done and fsyncs it.
func (l *ledger) note(files []string, now int64) error {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return err
	}
	_, statErr := os.Stat(l.donePath())
	f, err := os.OpenFile(l.donePath(), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	var b []byte
	for _, file := range files {
		b = strconv.AppendInt(b, now, 10)
		b = append(append(append(b, '\t'), file...), '\n')
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && statErr != nil {
		err = objstore.SyncDir(filepath.Dir(l.path)) // a new file's name is durable too
	}
	if err != nil {
		return err
	}
	for _, file := range files {
		l.done[file] = now
	}
	l.lines += len(files)
	return nil
}

// forget drops the files fn names, at most once a minute, and rewrites
// NAME.done when most of its lines are forgotten ones.
func (l *ledger) forget(fn func(file string, at int64) bool) error {
	if time.Since(l.lastForget) < time.Minute {
		return nil
	}
	l.lastForget = time.Now()
	for f, at := range l.done {
		if fn(f, at) {
			delete(l.done, f)
		}
	}
	if l.lines <= 2*len(l.done)+1024 {
		return nil
	}
	var b []byte
	for f, at := range l.done {
		b = strconv.AppendInt(b, at, 10)
		b = append(append(append(b, '\t'), f...), '\n')
	}
	if err := objstore.WriteFile(l.donePath(), b); err != nil {
		return err
	}
	l.lines = len(l.done)
	return nil
}

// save rewrites NAME.json (polling's days and failed tries).
func (l *ledger) save() error {
	data, _ := json.Marshal(&l.st)
	if err := os.MkdirAll(filepath.Dir(l.path), 0o755); err != nil {
		return err
	}
	return objstore.WriteFile(l.path, data)
}
