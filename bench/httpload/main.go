// Command httpload drives kansa's HTTP ingest, POST /v1/events, and reports
// what the server acknowledged: events/s, MB/s and per-request latency.
//
//	httpload -mode throughput -conns 8 -batch 500 -duration 60s
//	httpload -mode latency -rate 50000 -batch 100 -conns 16 -duration 30s
//
// Throughput mode is closed-loop: each of -conns goroutines posts a batch,
// waits for the answer and posts the next one, over keep-alive connections.
// Latency mode is open-loop: requests are due at start + i·(batch/rate)
// whether or not earlier ones have been answered, and latency is measured
// from the due time, so a slow server cannot hide its stalls by slowing the
// client down (coordinated omission). A request due while every connection
// is busy is sent as soon as one frees up and counted as late.
//
// Only events in 200 answers' "accepted" count as acknowledged; kansa sends
// 200 only after they are fsync'd to its WAL. Requests that complete during
// -warmup are left out of every figure. The client's own CPU time is in the
// summary because it shares the machine with the server when run locally.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	err := run(os.Args[1:], os.Stdout)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(2)
	}
}

// config is the parsed command line.
type config struct {
	url        *url.URL
	mode       string
	conns      int
	batch      int
	rate       float64 // events/s, latency mode only
	duration   time.Duration
	warmup     time.Duration
	every      time.Duration // interval between progress lines
	gzip       bool
	json       bool
	procs      int
	cpuProfile string
}

func parseFlags(args []string) (config, error) {
	fs := flag.NewFlagSet("httpload", flag.ContinueOnError)
	rawURL := fs.String("url", "http://127.0.0.1:7700", "kansa's base `URL`; requests go to URL/v1/events")
	mode := fs.String("mode", "throughput", "throughput (closed loop, back to back) or latency (open loop at -rate)")
	conns := fs.Int("conns", 8, "concurrent requests, each on its own keep-alive connection")
	batch := fs.Int("batch", 500, "events per request")
	rate := fs.Float64("rate", 50000, "target events/s in latency mode; requests are due every batch/rate seconds")
	duration := fs.Duration("duration", 60*time.Second, "measured phase, after -warmup")
	warmup := fs.Duration("warmup", 5*time.Second, "phase before -duration whose requests are left out of every figure")
	every := fs.Duration("every", 5*time.Second, "interval between progress lines")
	gz := fs.Bool("gzip", false, "gzip request bodies (Content-Encoding: gzip); costs client CPU")
	js := fs.Bool("json", false, "also print the summary as one JSON object on the last line")
	procs := fs.Int("procs", 1, "GOMAXPROCS for the client; 1 keeps idle Ps from spinning on the server's cores, 0 leaves the runtime default")
	cpuProfile := fs.String("cpuprofile", "", "write the client's CPU profile to this `file`")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q; all options are flags (see -h)", fs.Arg(0))
	}
	u, err := url.Parse(strings.TrimSuffix(*rawURL, "/") + "/v1/events")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return config{}, fmt.Errorf("-url %q: want http://host:port", *rawURL)
	}
	c := config{url: u, mode: *mode, conns: *conns, batch: *batch, rate: *rate,
		duration: *duration, warmup: *warmup, every: *every, gzip: *gz, json: *js, procs: *procs, cpuProfile: *cpuProfile}
	switch {
	case c.mode != "throughput" && c.mode != "latency":
		return config{}, fmt.Errorf("-mode %q: want throughput or latency", c.mode)
	case c.conns < 1 || c.batch < 1 || c.procs < 0:
		return config{}, errors.New("-conns and -batch must be at least 1, -procs not negative")
	case c.duration <= 0 || c.warmup < 0 || c.every <= 0:
		return config{}, errors.New("-duration and -every must be positive and -warmup not negative")
	case c.mode == "latency" && !(c.rate > 0 && !math.IsInf(c.rate, 0)):
		return config{}, errors.New("-rate must be a positive number of events/s")
	}
	return c, nil
}

func run(args []string, stdout io.Writer) error {
	cfg, err := parseFlags(args)
	if err != nil {
		return err
	}
	if cfg.procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(cfg.procs))
	}
	// Interrupt ends the measured phase early; the summary still prints.
	sigCtx, stopSig := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stopSig()

	prefix, err := runPrefix()
	if err != nil {
		return err
	}
	l := newLoad(cfg, prefix)
	if err := l.probe(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "httpload: %s mode, %s, %d conns, %d events/request", cfg.mode, cfg.url, cfg.conns, cfg.batch)
	if cfg.mode == "latency" {
		fmt.Fprintf(stdout, ", %.0f events/s (a request every %v)", cfg.rate, l.interval)
	}
	if cfg.gzip {
		fmt.Fprint(stdout, ", gzip")
	}
	fmt.Fprintf(stdout, ", warmup %v, duration %v, ids %s*\n", cfg.warmup, cfg.duration, prefix)

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			return fmt.Errorf("create CPU profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("start CPU profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	sum := l.run(sigCtx, stdout)
	sum.print(stdout)
	if cfg.json {
		b, err := json.Marshal(sum)
		if err != nil {
			return fmt.Errorf("encode summary: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
	}
	return nil
}

// runPrefix returns a random id prefix so that runs against the same data
// directory never repeat an event id.
func runPrefix() (string, error) {
	var b [6]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", fmt.Errorf("random run id: %w", err)
	}
	return "hl-" + hex.EncodeToString(b[:]) + "-", nil
}

// ---- the run ----

// load is one run: its workers, their counters and the schedule.
type load struct {
	cfg       config
	tr        *http.Transport
	tmpl      *http.Request // shallow-copied per request
	prefix    string
	nextID    atomic.Uint64 // next event id number, shared so ids are unique
	interval  time.Duration // latency mode: time between due requests
	workers   []*worker
	scheduler *stats // latency mode: scheduled and late counts
}

func newLoad(cfg config, prefix string) *load {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        cfg.conns,
		MaxIdleConnsPerHost: cfg.conns,
		MaxConnsPerHost:     cfg.conns,
		IdleConnTimeout:     5 * time.Minute,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10,
		ReadBufferSize:      16 << 10,
	}
	tmpl, _ := http.NewRequest(http.MethodPost, cfg.url.String(), nil) // URL already validated
	tmpl.Header.Set("Content-Type", "application/x-ndjson")
	tmpl.Header.Set("User-Agent", "kansa-httpload")
	if cfg.gzip {
		tmpl.Header.Set("Content-Encoding", "gzip")
	}
	l := &load{cfg: cfg, tr: tr, tmpl: tmpl, prefix: prefix, scheduler: newStats()}
	l.interval = time.Duration(float64(cfg.batch) / cfg.rate * 1e9)
	if l.interval <= 0 {
		l.interval = 1
	}
	for i := range cfg.conns {
		l.workers = append(l.workers, newWorker(l, i))
	}
	return l
}

// probe sends one empty request so that a wrong -url fails fast instead of
// after the warmup. A server that answers 429 or 503 is there but busy, which
// is what the load measures, so only other answers fail the probe.
func (l *load) probe() error {
	r := l.request(nil, new(sync.WaitGroup))
	r.Header = r.Header.Clone()
	r.Header.Del("Content-Encoding")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := l.tr.RoundTrip(r.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("probe %s: %w (is kansa serve running there?)", l.cfg.url, err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK, http.StatusTooManyRequests, http.StatusServiceUnavailable:
	default:
		return fmt.Errorf("probe %s: %s: %s", l.cfg.url, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// request returns a POST of body. The transport closes the body when it is
// done with it, possibly after RoundTrip returns; wg counts open bodies so
// that the caller can wait before reusing the bytes.
func (l *load) request(body []byte, wg *sync.WaitGroup) *http.Request {
	r := *l.tmpl
	r.ContentLength = int64(len(body))
	if len(body) == 0 {
		r.Body = http.NoBody
		return &r
	}
	r.Body = newBody(body, wg)
	r.GetBody = func() (io.ReadCloser, error) { return newBody(body, wg), nil }
	return &r
}

type reqBody struct {
	bytes.Reader
	wg   *sync.WaitGroup
	once sync.Once
}

func newBody(b []byte, wg *sync.WaitGroup) *reqBody {
	wg.Add(1)
	r := &reqBody{wg: wg}
	r.Reset(b)
	return r
}

func (b *reqBody) Close() error { b.once.Do(b.wg.Done); return nil }

// run drives the load until the end of -warmup plus -duration or until ctx
// is cancelled, printing progress to out, and returns the summary.
func (l *load) run(ctx context.Context, out io.Writer) summary {
	reqCtx, cancelReqs := context.WithCancel(context.Background())
	defer cancelReqs()
	stopping := make(chan struct{})
	start := time.Now()
	measureStart := start.Add(l.cfg.warmup)
	end := measureStart.Add(l.cfg.duration)

	var wg sync.WaitGroup
	if l.cfg.mode == "throughput" {
		for _, w := range l.workers {
			wg.Go(func() { w.closedLoop(reqCtx, stopping) })
		}
	} else {
		jobs := make(chan time.Time) // unbuffered: a send succeeds only if a worker is idle
		for _, w := range l.workers {
			wg.Go(func() { w.openLoop(reqCtx, stopping, jobs) })
		}
		wg.Go(func() { l.schedule(start, end, stopping, jobs) })
	}

	total := newStats()
	interval := newStats()
	cpuStart := cpuTime()
	cpuMeasureStart := cpuStart
	last := start
	measured := time.Duration(0)
	timer := time.NewTimer(0)
	<-timer.C
	interrupted := false
	for {
		next := last.Add(l.cfg.every)
		if last.Before(measureStart) && measureStart.Before(next) {
			next = measureStart // the warmup's last line ends exactly where measuring starts
		}
		if end.Before(next) {
			next = end
		}
		timer.Reset(time.Until(next))
		select {
		case <-timer.C:
		case <-ctx.Done():
			interrupted = true
			next = time.Now()
		}
		l.collect(interval)
		now := next
		warm := !last.Before(measureStart)
		l.printInterval(out, interval, now.Sub(start), now.Sub(last), warm)
		if warm {
			total.merge(interval)
			measured += now.Sub(last)
		} else if !now.Before(measureStart) {
			cpuMeasureStart = cpuTime()
		}
		interval.reset()
		last = now
		if interrupted || !now.Before(end) {
			break
		}
	}
	cpuMeasureEnd := cpuTime()
	close(stopping)

	// Let in-flight requests finish so the server is not left mid-request;
	// they complete after the measured phase and count nowhere.
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cancelReqs()
		<-done
	}
	l.tr.CloseIdleConnections()
	return l.summarize(total, measured, cpuMeasureEnd-cpuMeasureStart, cpuTime()-cpuStart, interrupted)
}

// collect moves every worker's counters since the last call into into.
func (l *load) collect(into *stats) {
	for _, w := range l.workers {
		w.mu.Lock()
		into.merge(w.st)
		w.st.reset()
		w.mu.Unlock()
	}
	l.scheduler.mu.Lock()
	into.merge(l.scheduler)
	l.scheduler.reset()
	l.scheduler.mu.Unlock()
}

// schedule hands due times to idle workers, one every l.interval from
// start. A due time that finds no idle worker is counted late and handed to
// the next worker that frees up; its latency still counts from the due time.
func (l *load) schedule(start, end time.Time, stopping <-chan struct{}, jobs chan<- time.Time) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	st := l.scheduler
	for i := int64(0); ; i++ {
		due := start.Add(time.Duration(float64(i) * float64(l.interval)))
		if !due.Before(end) {
			return
		}
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-stopping:
				return
			}
		}
		late := false
		select {
		case jobs <- due:
		default:
			late = true
			select {
			case jobs <- due:
			case <-stopping:
				return
			}
		}
		st.mu.Lock()
		st.scheduled++
		if late {
			st.late++
		}
		st.mu.Unlock()
	}
}

// ---- a worker: one connection's worth of requests ----

type worker struct {
	l      *load
	gen    *generator
	bodyWG sync.WaitGroup // open request bodies over buf or zbuf
	buf    []byte         // NDJSON body
	zbuf   bytes.Buffer   // gzip body
	zw     *gzip.Writer
	resp   bytes.Buffer

	mu sync.Mutex // guards st
	st *stats
}

func newWorker(l *load, i int) *worker {
	w := &worker{l: l, gen: newGenerator(l.prefix, &l.nextID, uint64(i)), st: newStats()}
	w.buf = make([]byte, 0, l.cfg.batch*512)
	if l.cfg.gzip {
		w.zw, _ = gzip.NewWriterLevel(&w.zbuf, gzip.BestSpeed) // level is valid
	}
	return w
}

// build makes the next batch body; it returns the bytes to send.
func (w *worker) build() []byte {
	w.bodyWG.Wait() // the transport may still hold the previous body
	w.buf = w.gen.appendBatch(w.buf[:0], w.l.cfg.batch, time.Now())
	if w.zw == nil {
		return w.buf
	}
	w.zbuf.Reset()
	w.zw.Reset(&w.zbuf)
	w.zw.Write(w.buf) // writes to a bytes.Buffer do not fail
	w.zw.Close()
	return w.zbuf.Bytes()
}

// result is what one request came to.
type result struct {
	status     int // 0: transport error
	accepted   int
	retryAfter time.Duration
	msg        string // for the first failure of each kind
}

func (w *worker) post(ctx context.Context, body []byte) result {
	r := w.l.request(body, &w.bodyWG).WithContext(ctx)
	resp, err := w.l.tr.RoundTrip(r)
	if err != nil {
		return result{msg: err.Error()}
	}
	w.resp.Reset()
	_, err = w.resp.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil {
		return result{msg: "read answer: " + err.Error()}
	}
	res := result{status: resp.StatusCode}
	if resp.StatusCode != http.StatusOK {
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			res.retryAfter = time.Duration(s) * time.Second
		}
		res.msg = resp.Status + ": " + string(bytes.TrimSpace(w.resp.Bytes()[:min(w.resp.Len(), 300)]))
		return res
	}
	n, ok := parseAccepted(w.resp.Bytes())
	if !ok {
		res.status, res.msg = -1, "200 without a number in \"accepted\": "+w.resp.String()
	}
	res.accepted = n
	return res
}

func (w *worker) record(res result, lat time.Duration, raw, wire int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.st
	st.requests++
	switch res.status {
	case http.StatusOK:
		st.ok++
		st.events += int64(res.accepted)
		st.rejected += int64(w.l.cfg.batch - res.accepted)
		st.rawBytes += int64(raw)
		st.wireBytes += int64(wire)
		st.lat.record(lat)
	default:
		st.failed[res.status]++
		if _, seen := st.firstMsg[res.status]; !seen {
			st.firstMsg[res.status] = res.msg
		}
	}
}

// closedLoop posts batches back to back. After a 503 it waits Retry-After,
// after a transport error 100ms, as a well-behaved client would.
func (w *worker) closedLoop(ctx context.Context, stopping <-chan struct{}) {
	for {
		body := w.build()
		select {
		case <-stopping:
			return
		default:
		}
		t0 := time.Now()
		res := w.post(ctx, body)
		lat := time.Since(t0)
		w.record(res, lat, len(w.buf), len(body))
		var pause time.Duration
		switch {
		case res.status == 0:
			pause = 100 * time.Millisecond
		case res.status == http.StatusServiceUnavailable:
			pause = max(res.retryAfter, 100*time.Millisecond)
		}
		if pause > 0 {
			select {
			case <-time.After(pause):
			case <-stopping:
				return
			}
		}
	}
}

// openLoop sends a prebuilt batch for each due time it receives and
// measures latency from the due time.
func (w *worker) openLoop(ctx context.Context, stopping <-chan struct{}, jobs <-chan time.Time) {
	for {
		body := w.build()
		var due time.Time
		select {
		case due = <-jobs:
		case <-stopping:
			return
		}
		res := w.post(ctx, body)
		w.record(res, time.Since(due), len(w.buf), len(body))
	}
}

// parseAccepted finds the number in `"accepted":N`.
func parseAccepted(b []byte) (int, bool) {
	i := bytes.Index(b, []byte(`"accepted"`))
	if i < 0 {
		return 0, false
	}
	b = bytes.TrimLeft(b[i+len(`"accepted"`):], " \t\r\n")
	if len(b) == 0 || b[0] != ':' {
		return 0, false
	}
	b = bytes.TrimLeft(b[1:], " \t\r\n")
	n, digits := 0, 0
	for ; digits < len(b) && b[digits] >= '0' && b[digits] <= '9'; digits++ {
		n = n*10 + int(b[digits]-'0')
	}
	return n, digits > 0
}

// ---- counters ----

// stats are counters over some span of completed requests.
type stats struct {
	mu        sync.Mutex // used only where the stats are shared
	requests  int64
	ok        int64
	events    int64          // accepted events in 200 answers
	rejected  int64          // events in 200 answers that were not accepted
	rawBytes  int64          // uncompressed body bytes of 200 requests
	wireBytes int64          // body bytes on the wire of 200 requests
	failed    map[int]int64  // non-200 requests by status; 0: transport error, -1: bad 200
	firstMsg  map[int]string // first message for each key of failed
	scheduled int64          // latency mode: requests handed to a worker
	late      int64          // latency mode: ... that found every connection busy
	lat       hist           // latency of 200 requests
}

func newStats() *stats {
	return &stats{failed: map[int]int64{}, firstMsg: map[int]string{}}
}

func (s *stats) merge(o *stats) {
	s.requests += o.requests
	s.ok += o.ok
	s.events += o.events
	s.rejected += o.rejected
	s.rawBytes += o.rawBytes
	s.wireBytes += o.wireBytes
	s.scheduled += o.scheduled
	s.late += o.late
	for k, v := range o.failed {
		s.failed[k] += v
	}
	for k, v := range o.firstMsg {
		if _, ok := s.firstMsg[k]; !ok {
			s.firstMsg[k] = v
		}
	}
	s.lat.merge(&o.lat)
}

func (s *stats) reset() {
	s.requests, s.ok, s.events, s.rejected, s.rawBytes, s.wireBytes, s.scheduled, s.late = 0, 0, 0, 0, 0, 0, 0, 0
	clear(s.failed)
	clear(s.firstMsg)
	s.lat.reset()
}

func failedString(failed map[int]int64) string {
	if len(failed) == 0 {
		return ""
	}
	keys := make([]int, 0, len(failed))
	for k := range failed {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(statusName(k))
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(failed[k], 10))
	}
	return b.String()
}

func statusName(k int) string {
	switch k {
	case 0:
		return "neterr"
	case -1:
		return "bad200"
	}
	return strconv.Itoa(k)
}

// hist is a log-linear latency histogram in nanoseconds: exact below 128ns,
// then 64 buckets per power of two, so a reported quantile (the middle of
// its bucket) is within 0.8% of the true value. The maximum is exact.
type hist struct {
	counts [histBuckets]uint64
	n      uint64
	max    int64
}

const (
	histSubBits = 6
	histSub     = 1 << histSubBits                      // buckets per power of two
	histLinear  = 2 * histSub                           // values below this have their own bucket
	histBuckets = histLinear + (62-histSubBits)*histSub // up to MaxInt64
)

func histIndex(v int64) int {
	if v < histLinear {
		return int(max(v, 0))
	}
	e := bits.Len64(uint64(v)) - histSubBits - 1 // >= 1
	return histLinear + (e-1)*histSub + int(uint64(v)>>e) - histSub
}

// histMid returns the middle of bucket i.
func histMid(i int) int64 {
	if i < histLinear {
		return int64(i)
	}
	e := (i-histLinear)/histSub + 1
	m := int64((i-histLinear)%histSub + histSub)
	return m<<e + (int64(1)<<e)/2
}

func (h *hist) record(d time.Duration) {
	v := int64(d)
	h.counts[histIndex(v)]++
	h.n++
	h.max = max(h.max, v)
}

func (h *hist) merge(o *hist) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

func (h *hist) reset() {
	if h.n != 0 {
		*h = hist{}
	}
}

// quantile returns the value at q (0..1); 0 when empty.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(histMid(i), h.max))
		}
	}
	return time.Duration(h.max)
}

// ---- reporting ----

func (l *load) printInterval(out io.Writer, s *stats, at, span time.Duration, measured bool) {
	sec := span.Seconds()
	if sec <= 0 {
		return
	}
	tag := ""
	if !measured {
		tag = " warmup"
	}
	fmt.Fprintf(out, "%6.1fs%s  events/s %9.0f  MB/s %6.1f  req %6d  p50 %s  p99 %s  max %s",
		at.Seconds(), tag, float64(s.events)/sec, float64(s.rawBytes)/sec/1e6, s.requests,
		ms(s.lat.quantile(.50)), ms(s.lat.quantile(.99)), ms(time.Duration(s.lat.max)))
	if l.cfg.mode == "latency" {
		fmt.Fprintf(out, "  late %d", s.late)
	}
	if f := failedString(s.failed); f != "" {
		fmt.Fprintf(out, "  non-200 %s", f)
	}
	fmt.Fprintln(out)
}

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) + "ms"
}

// summary is the result of a run; its JSON form is what -json prints.
type summary struct {
	Mode             string            `json:"mode"`
	URL              string            `json:"url"`
	Conns            int               `json:"conns"`
	Batch            int               `json:"batch"`
	TargetRate       float64           `json:"target_events_per_sec,omitempty"`
	Gzip             bool              `json:"gzip"`
	WarmupSec        float64           `json:"warmup_sec"`
	MeasuredSec      float64           `json:"measured_sec"`
	Interrupted      bool              `json:"interrupted,omitempty"`
	Requests         int64             `json:"requests"`
	OK               int64             `json:"requests_ok"`
	NonOK            map[string]int64  `json:"non_200,omitempty"`
	FirstErrors      map[string]string `json:"first_errors,omitempty"`
	Events           int64             `json:"events_acked"`
	Rejected         int64             `json:"events_rejected"`
	EventsPerSec     float64           `json:"events_per_sec"`
	AvgEventBytes    float64           `json:"avg_event_bytes"`
	MBPerSec         float64           `json:"mb_per_sec"`
	WireMBPerSec     float64           `json:"wire_mb_per_sec"`
	Scheduled        int64             `json:"scheduled,omitempty"`
	Late             int64             `json:"late,omitempty"`
	LatencyMs        latencyMs         `json:"latency_ms"`
	ClientCPUSec     float64           `json:"client_cpu_sec"`
	ClientCPUPercent float64           `json:"client_cpu_pct_of_one_core"`
	ClientCPUTotal   float64           `json:"client_cpu_sec_incl_warmup"`
	GOMAXPROCS       int               `json:"gomaxprocs"`
}

type latencyMs struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

func (l *load) summarize(t *stats, measured, cpu, cpuAll time.Duration, interrupted bool) summary {
	sec := measured.Seconds()
	per := func(v int64) float64 {
		if sec <= 0 {
			return 0
		}
		return float64(v) / sec
	}
	msf := func(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
	round := func(v float64, places float64) float64 { p := math.Pow(10, places); return math.Round(v*p) / p }
	s := summary{
		Mode: l.cfg.mode, URL: l.cfg.url.String(), Conns: l.cfg.conns, Batch: l.cfg.batch, Gzip: l.cfg.gzip,
		WarmupSec: l.cfg.warmup.Seconds(), MeasuredSec: sec, Interrupted: interrupted,
		Requests: t.requests, OK: t.ok, Events: t.events, Rejected: t.rejected,
		EventsPerSec: round(per(t.events), 0), MBPerSec: round(per(t.rawBytes)/1e6, 2), WireMBPerSec: round(per(t.wireBytes)/1e6, 2),
		LatencyMs: latencyMs{
			P50: msf(t.lat.quantile(.50)), P90: msf(t.lat.quantile(.90)), P99: msf(t.lat.quantile(.99)),
			P999: msf(t.lat.quantile(.999)), Max: msf(time.Duration(t.lat.max)),
		},
		ClientCPUSec: round(cpu.Seconds(), 3), ClientCPUTotal: round(cpuAll.Seconds(), 3), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
	if sec > 0 {
		s.ClientCPUPercent = round(cpu.Seconds()/sec*100, 1)
	}
	if t.ok > 0 {
		s.AvgEventBytes = math.Round(float64(t.rawBytes) / float64(t.ok*int64(l.cfg.batch)))
	}
	if l.cfg.mode == "latency" {
		s.TargetRate, s.Scheduled, s.Late = l.cfg.rate, t.scheduled, t.late
	}
	if len(t.failed) > 0 {
		s.NonOK, s.FirstErrors = map[string]int64{}, map[string]string{}
		for k, v := range t.failed {
			s.NonOK[statusName(k)] = v
			s.FirstErrors[statusName(k)] = t.firstMsg[k]
		}
	}
	return s
}

func (s summary) print(out io.Writer) {
	fmt.Fprintf(out, "--- %s summary over %.1fs", s.Mode, s.MeasuredSec)
	if s.Interrupted {
		fmt.Fprint(out, " (interrupted)")
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "events acked   %d (%.0f/s), %d rejected by the server, %.0f bytes/event\n",
		s.Events, s.EventsPerSec, s.Rejected, s.AvgEventBytes)
	fmt.Fprintf(out, "bodies         %.1f MB/s", s.MBPerSec)
	if s.Gzip {
		fmt.Fprintf(out, " (%.1f MB/s gzip on the wire)", s.WireMBPerSec)
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "requests       %d, %d answered 200", s.Requests, s.OK)
	if len(s.NonOK) > 0 {
		keys := make([]string, 0, len(s.NonOK))
		for k := range s.NonOK {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprint(out, "; not 200:")
		for _, k := range keys {
			fmt.Fprintf(out, " %s=%d", k, s.NonOK[k])
		}
	}
	fmt.Fprintln(out)
	if s.Mode == "latency" {
		fmt.Fprintf(out, "schedule       %.0f events/s target, %d requests due, %d late (every connection busy)\n",
			s.TargetRate, s.Scheduled, s.Late)
	}
	lat := s.LatencyMs
	from := "send"
	if s.Mode == "latency" {
		from = "due time"
	}
	fmt.Fprintf(out, "latency (from %s to 200) p50 %.2fms  p90 %.2fms  p99 %.2fms  p99.9 %.2fms  max %.2fms\n",
		from, lat.P50, lat.P90, lat.P99, lat.P999, lat.Max)
	fmt.Fprintf(out, "client CPU     %.2fs (%.1f%% of one core; %.2fs including warmup), GOMAXPROCS %d\n",
		s.ClientCPUSec, s.ClientCPUPercent, s.ClientCPUTotal, s.GOMAXPROCS)
	for k, m := range s.FirstErrors {
		fmt.Fprintf(out, "first %s: %s\n", k, m)
	}
}

// cpuTime is the process's user plus system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// ---- events ----

// generator appends NDJSON audit events of about 420 bytes with unique ids
// and varied actors, targets and request metadata. One per goroutine.
type generator struct {
	prefix []byte
	next   *atomic.Uint64
	rng    *rand.PCG
	ts     []byte
}

func newGenerator(prefix string, next *atomic.Uint64, seed uint64) *generator {
	return &generator{prefix: []byte(prefix), next: next, rng: rand.NewPCG(seed, 0x6b616e7361)}
}

// kind is one realistic combination of action, target and change.
type kind struct {
	action, target, endpoint, changes string
}

var kinds = [...]kind{
	{"update", "Order", "PATCH /orders/:id", `{"status":["paid","shipped"]}`},
	{"update", "Order", "PATCH /orders/:id", `{"status":["pending","paid"],"paid_at":[null,"2024-08-06"]}`},
	{"create", "Invoice", "POST /invoices", `{"amount":[null,12500],"currency":[null,"JPY"]}`},
	{"update", "User", "PATCH /users/:id", `{"role":["member","admin"]}`},
	{"delete", "Project", "DELETE /projects/:id", `{"archived":[false,true]}`},
	{"update", "Account", "PUT /accounts/:id/email", `{"email":["old@example.com","new@example.com"]}`},
	{"create", "ApiKey", "POST /api_keys", `{"scope":[null,"read:orders"]}`},
	{"update", "Subscription", "PATCH /subscriptions/:id", `{"plan":["basic","pro"]}`},
}

var userAgents = [...]string{
	"Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
	"Mozilla/5.0 (iPhone) Mobile/15E148",
	"okhttp/4.12.0",
	"Mozilla/5.0 (Macintosh) Safari/605.1.15",
}

// appendBatch appends n events, one per line, stamped with now.
func (g *generator) appendBatch(dst []byte, n int, now time.Time) []byte {
	first := g.next.Add(uint64(n)) - uint64(n)
	g.ts = now.AppendFormat(g.ts[:0], "2006-01-02T15:04:05.000Z07:00")
	for i := range n {
		dst = g.appendEvent(dst, first+uint64(i))
		dst = append(dst, '\n')
	}
	return dst
}

func (g *generator) appendEvent(b []byte, id uint64) []byte {
	r, r2 := g.rng.Uint64(), g.rng.Uint64()
	k := &kinds[r%uint64(len(kinds))]
	b = append(b, `{"schema":"kansa.audit/v1","id":"`...)
	b = append(b, g.prefix...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `","time":"`...)
	b = append(b, g.ts...)
	b = append(b, `","action":"`...)
	b = append(b, k.action...)
	b = append(b, `","actor":{"type":"User","id":"`...)
	b = strconv.AppendUint(b, 1+(r>>4)%200_000, 10)
	b = append(b, `"},"target":{"type":"`...)
	b = append(b, k.target...)
	b = append(b, `","id":"`...)
	b = strconv.AppendUint(b, 1+(r>>28)%5_000_000, 10)
	b = append(b, `"},"changes":`...)
	b = append(b, k.changes...)
	b = append(b, `,"context":{"ip":"203.0.113.`...)
	b = strconv.AppendUint(b, 1+r2%254, 10)
	b = append(b, `","request_id":"`...)
	b = appendUUID(b, g.rng.Uint64(), g.rng.Uint64())
	b = append(b, `","user_agent":"`...)
	b = append(b, userAgents[(r2>>8)%uint64(len(userAgents))]...)
	b = append(b, `","endpoint":"`...)
	b = append(b, k.endpoint...)
	b = append(b, `"},"source":"app:bench"}`...)
	return b
}

// appendUUID appends a version-4 UUID made of hi and lo.
func appendUUID(b []byte, hi, lo uint64) []byte {
	const hexDigits = "0123456789abcdef"
	hi = hi&^(0xf<<12) | 4<<12   // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // variant 10
	for i, v := range [2]uint64{hi, lo} {
		for j := 15; j >= 0; j-- {
			pos := i*16 + 15 - j
			if pos == 8 || pos == 12 || pos == 16 || pos == 20 {
				b = append(b, '-')
			}
			b = append(b, hexDigits[(v>>(4*j))&0xf])
		}
	}
	return b
}
