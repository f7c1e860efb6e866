package audit

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ClientConfig configures a Client. Zero values are defaults, but for URL
// and SpoolDir.
type ClientConfig struct {
	// URL of kansa serve, as "http://127.0.0.1:7700"; events go to
	// URL + "/v1/events".
	URL string
	// SpoolDir holds events until kansa acknowledges them. One Client per
	// directory at a time (it is locked); events left there by a previous
	// process are sent first.
	SpoolDir string
	// MaxSpoolBytes bounds the spool. Past it, events are refused and counted
	// (OutputStats.SpoolFull, Stats.Dropped) and logged. Default 256 MiB.
	MaxSpoolBytes int64
	// SegmentBytes is the size at which a spool file is closed and a new
	// one started; acknowledged files are removed. Default 4 MiB.
	SegmentBytes int64
	// BatchBytes bounds one request before gzip. Default 1 MiB.
	BatchBytes int
	// MinBackoff and MaxBackoff bound the wait between failed attempts,
	// which doubles from the first to the second with jitter. A server's
	// Retry-After is honoured up to MaxBackoff. Defaults 100 ms and 10 s:
	// after an outage, delivery resumes within MaxBackoff.
	MinBackoff, MaxBackoff time.Duration
	// Header is added to every request (a proxy's credentials, say).
	Header http.Header
	// HTTPClient sends the requests. Default: a client with a 30 s timeout.
	HTTPClient *http.Client
	// Logger receives delivery failures and refusals. Default slog.Default().
	Logger *slog.Logger
}

// Client is an Output that delivers events to kansa serve (POST
// /v1/events) through a spool on local disk, so that a kansa outage neither
// blocks the application nor loses events: Write appends to the spool, Sync
// fsyncs it, and a goroutine sends what is spooled in gzip'd batches,
// retrying with backoff until kansa acknowledges (which it does only once
// the events are durable on its side), then deletes them from the spool.
//
// Delivery is at least once: after a crash between kansa's answer and the
// spool's cursor update, a batch is sent again, and kansa keeps one copy of
// each event id.
type Client struct {
	cfg  ClientConfig
	url  string
	log  *slog.Logger
	sp   *spool
	wake chan struct{}
	quit chan struct{} // closed by Close: send what remains, then stop
	stop chan struct{} // closed when Close's ctx is done: stop now
	done chan struct{}

	sent, rejected, attempts, failures, full atomic.Uint64
	closeOnce                                sync.Once
	closeErr                                 error
}

// ErrUndelivered is returned (wrapped) by Close when its context ended
// before kansa acknowledged every spooled event. They are not lost: the
// next Client on the same SpoolDir sends them first.
var ErrUndelivered = errors.New("audit: events left in the spool, undelivered")

// ErrSpoolFull is returned by Client.Write when the spool is at its limit.
var ErrSpoolFull = errors.New("audit: spool full: kansa has not acknowledged events for a while")

// NewClient opens (or creates) the spool and starts delivering. It fails
// when URL or SpoolDir is missing or URL is not http(s), when the spool
// cannot be created or read, and when another Client holds it.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("audit: ClientConfig.URL is required (kansa serve's address, as http://127.0.0.1:7700)")
	}
	if u, err := url.Parse(cfg.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("audit: ClientConfig.URL %q is not an http(s) URL with a host (as http://127.0.0.1:7700)", cfg.URL)
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("audit: ClientConfig.SpoolDir is required (a directory for events not yet acknowledged)")
	}
	if cfg.MaxSpoolBytes <= 0 {
		cfg.MaxSpoolBytes = 256 << 20
	}
	if cfg.SegmentBytes <= 0 {
		cfg.SegmentBytes = 4 << 20
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 1 << 20
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 10 * time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	sp, err := openSpool(cfg.SpoolDir, cfg.SegmentBytes, cfg.Logger)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:  cfg,
		url:  strings.TrimRight(cfg.URL, "/") + "/v1/events",
		log:  cfg.Logger,
		sp:   sp,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.deliver()
	return c, nil
}

// Write appends line to the spool, or refuses it with ErrSpoolFull.
func (c *Client) Write(line []byte) error {
	if c.sp.pending()+int64(len(line)) > c.cfg.MaxSpoolBytes {
		c.full.Add(1)
		return ErrSpoolFull
	}
	return c.sp.write(line)
}

// Sync fsyncs the spool: every line written so far survives a crash of the
// process or the machine. It also wakes the sender.
func (c *Client) Sync() error {
	err := c.sp.sync()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return err
}

// Close syncs the spool and keeps delivering until everything spooled is
// acknowledged or ctx is done; what is left stays in the spool for the
// next Client on the same directory, and Close returns ErrUndelivered
// (wrapped, with the bytes left). Give ctx a deadline: while kansa is down,
// Close waits for it until ctx is done. Close is idempotent; later calls
// return the first call's error.
func (c *Client) Close(ctx context.Context) error {
	c.closeOnce.Do(func() {
		err := c.sp.sync()
		close(c.quit)
		select {
		case <-c.done:
		case <-ctx.Done():
			close(c.stop)
			<-c.done
		}
		if n := c.sp.pending(); n > 0 {
			c.log.Warn("audit: closing with events not yet delivered; they stay in the spool for the next start",
				"spool", c.cfg.SpoolDir, "bytes", n)
			err = errors.Join(err, fmt.Errorf("%w: %d bytes in %s", ErrUndelivered, n, c.cfg.SpoolDir))
		}
		c.closeErr = errors.Join(err, c.sp.close())
	})
	return c.closeErr
}

// Stats returns the delivery counters.
func (c *Client) Stats() OutputStats {
	return OutputStats{
		Sent:       c.sent.Load(),
		Rejected:   c.rejected.Load(),
		Attempts:   c.attempts.Load(),
		Failures:   c.failures.Load(),
		SpoolBytes: c.sp.pending(),
		SpoolFull:  c.full.Load(),
	}
}

// deliver is the sender goroutine.
func (c *Client) deliver() {
	defer close(c.done)
	var (
		batch   []byte
		body    bytes.Buffer
		zw, _   = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // the application's CPU: speed over ratio
		backoff time.Duration
		failing bool
		limit   = c.cfg.BatchBytes // halved when kansa answers 413
		packed  packing            // what body holds

		failingSince, lastWarn time.Time

		n     int  // lines in batch
		again bool // batch failed: send it again as it is, not a bigger one
	)
	for {
		if again {
			again = false
		} else {
			var err error
			batch, n, err = c.sp.read(batch[:0], limit)
			if err != nil {
				c.log.Error("audit: read spool", "spool", c.cfg.SpoolDir, "err", err)
			}
		}
		if n == 0 {
			select {
			case <-c.quit:
				return
			default:
			}
			select {
			case <-c.wake:
			case <-c.quit:
			case <-c.stop:
				return
			}
			continue
		}
		// A retry of the same lines reuses their gzip'd body.
		if !(packed.ok && packed.seg == c.sp.rseg && packed.off == c.sp.roff && packed.n == n) {
			if err := pack(&body, zw, batch); err != nil {
				c.log.Error("audit: compress batch", "err", err)
				continue
			}
			packed = packing{ok: true, seg: c.sp.rseg, off: c.sp.roff, n: n}
		}
		retry, err := c.send(body.Bytes(), n)
		if err == nil {
			if failing {
				c.log.Info("audit: delivering again", "url", c.url,
					"after", time.Since(failingSince).Round(time.Second).String())
				failing = false
			}
			backoff = 0
			if err := c.sp.ack(); err != nil {
				c.log.Error("audit: update spool cursor", "spool", c.cfg.SpoolDir, "err", err)
			}
			continue
		}
		if errors.Is(err, errTooLarge) {
			if n > 1 {
				limit = max(limit/2, 1)
				c.sp.unread()
				continue
			}
			c.rejected.Add(1)
			c.log.Error("audit: kansa refused an event larger than its request limit", "bytes", len(batch))
			if err := c.sp.ack(); err != nil {
				c.log.Error("audit: update spool cursor", "spool", c.cfg.SpoolDir, "err", err)
			}
			continue
		}
		c.failures.Add(1)
		backoff = nextBackoff(backoff, c.cfg.MinBackoff, c.cfg.MaxBackoff)
		wait := backoff
		if retry > wait {
			wait = min(retry, c.cfg.MaxBackoff)
		}
		if !failing || time.Since(lastWarn) >= time.Minute {
			if !failing {
				failingSince = time.Now()
			}
			c.log.Warn("audit: kansa did not accept events; retrying (they are safe in the spool)",
				"url", c.url, "err", err, "retry_in", wait.String(),
				"failing_for", time.Since(failingSince).Round(time.Second).String(), "spooled_bytes", c.sp.pending())
			failing, lastWarn = true, time.Now()
		}
		again = true
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-c.stop:
			t.Stop()
			return
		}
	}
}

// nextBackoff doubles the previous wait within [lo, hi], with full jitter
// over its upper half so that many clients do not retry in step.
func nextBackoff(prev, lo, hi time.Duration) time.Duration {
	d := prev * 2
	if d < lo {
		d = lo
	}
	if d > hi {
		d = hi
	}
	return d/2 + rand.N(d/2+1)
}

// packing names the lines a compressed body holds: n lines from the
// spool's segment seg at offset off.
type packing struct {
	ok  bool
	seg uint64
	off int64
	n   int
}

func pack(body *bytes.Buffer, zw *gzip.Writer, batch []byte) error {
	body.Reset()
	zw.Reset(body)
	if _, err := zw.Write(batch); err != nil {
		return err
	}
	return zw.Close()
}

var errTooLarge = errors.New("request over kansa's size limit")

// answer is kansa's reply to POST /v1/events.
type answer struct {
	Accepted int `json:"accepted"`
	Errors   []struct {
		Index int    `json:"index"`
		Error string `json:"error"`
	} `json:"errors"`
}

// send posts n lines. A nil error means kansa answered for every line: each
// was accepted or refused as invalid (which no retry would change). retry is
// the server's Retry-After, if any.
func (c *Client) send(body []byte, n int) (retry time.Duration, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range c.cfg.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Content-Encoding", "gzip")
	c.attempts.Add(1)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		return 0, errTooLarge
	}
	if resp.StatusCode != http.StatusOK {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			retry = time.Duration(s) * time.Second
		}
		return retry, fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(raw))
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return 0, fmt.Errorf("answer is not kansa's: %w", err)
	}
	if a.Accepted+len(a.Errors) != n {
		return 0, fmt.Errorf("kansa answered for %d events of %d", a.Accepted+len(a.Errors), n)
	}
	c.sent.Add(uint64(a.Accepted))
	c.rejected.Add(uint64(len(a.Errors)))
	for i, e := range a.Errors {
		if i == 3 {
			c.log.Error("audit: kansa refused more events", "count", len(a.Errors)-i)
			break
		}
		c.log.Error("audit: kansa refused an event", "err", e.Error)
	}
	return 0, nil
}

var _ Output = (*Client)(nil)
