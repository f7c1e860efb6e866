// Package stdin is the sidecar input behind `kansa route`: it reads a mixed
// log stream, passes application-log lines through byte for byte and in
// order, and sends audit lines into the WAL.
//
// The work is spread so that every core is used: the reader splits and
// classifies lines and writes application lines; mappers (one per core) turn
// chunks of audit lines into events (or rejects) in parallel; the appender
// appends each chunk's records to the WAL in input order. The WAL's flusher
// writes and fsyncs behind them. A full WAL under the block
// policy stalls the appender, then the reader, then the application's writes to
// stdout: no unaudited line gets through. Under drop, audit lines are counted
// and dropped while application lines keep flowing.
package stdin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/kansa-audit/kansa/internal/mapping"
	"github.com/kansa-audit/kansa/internal/metrics"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/route"
)

// Config of the input.
type Config struct {
	Source       string          // stamped on events without a source
	Tenant       string          // stamped on events without a tenant
	Policy       node.FullPolicy // Block or Drop
	MaxLineBytes int             // lines longer than this pass to the app output unclassified
}

// Stats are the input's counts after Run.
type Stats struct {
	Lines, AppLines, AuditLines, Events, Rejects, Dropped, LongLines uint64
	LastIndex                                                        uint64 // last WAL index appended
}

// chunk is a run of audit lines handed from the reader to a mapper, and
// the WAL records the mapper made of them, handed on to the appender.
type chunk struct {
	data  []byte           // audit lines back to back
	ends  []int            // end offset of each line in data
	rules []mapping.Format // how each line is mapped

	out     []byte   // records, back to back
	outEnds []int    // end offset of each record in out
	recs    [][]byte // views of out, for WAL.Append
	events  int      // records in out that are events (the rest are rejects)
	mapped  chan struct{}
}

const (
	chunkBytes  = 256 << 10
	chunkLines  = 2048
	maxUnsynced = 8 << 20 // appended but not yet durable, before the appender waits
)

// Run reads in until EOF. It returns once every audit line read is appended
// to the WAL (not yet necessarily durable or archived; the caller syncs and
// waits for the archive).
func Run(ctx context.Context, cfg Config, in io.Reader, app io.Writer, r *route.Router, ing *node.Ingester, reg *metrics.Registry) (Stats, error) {
	if cfg.MaxLineBytes <= 0 {
		cfg.MaxLineBytes = 4 << 20
	}
	names := r.Names()
	routed := make([]*metrics.Counter, len(names))
	for i, n := range names {
		routed[i] = reg.Counter("kansa_routed_total", "Lines routed, by the rule that decided.", "route", n)
	}
	long := reg.Counter("kansa_long_lines_total", "Lines over route.max_line_bytes passed to the application output unclassified.")

	// The reader hands each chunk to the mappers (any of them, in parallel)
	// and, in the same order, to the appender, which waits for each chunk's
	// records and appends them: the WAL gets audit lines in input order.
	nMappers := max(1, runtime.GOMAXPROCS(0))
	work := make(chan *chunk, 2*nMappers)
	chunks := make(chan *chunk, 2*nMappers+2)
	free := make(chan *chunk, 2*nMappers+4)
	for range cap(free) {
		free <- &chunk{data: make([]byte, 0, chunkBytes+64<<10), mapped: make(chan struct{}, 1)}
	}
	var st Stats
	d := mapping.Defaults{Source: cfg.Source, Tenant: cfg.Tenant}
	var mappers sync.WaitGroup
	for range nMappers {
		mappers.Add(1)
		go func() {
			defer mappers.Done()
			for c := range work {
				mapChunk(c, d, ing)
			}
		}()
	}
	// failed is cancelled when the appender cannot append: the reader then
	// stops reading instead of routing lines nobody will archive.
	failed, fail := context.WithCancel(ctx)
	defer fail()
	type result struct {
		st  Stats
		err error
	}
	appended := make(chan result, 1)
	go func() {
		st, err := appendLoop(ctx, cfg, chunks, free, ing, fail)
		appended <- result{st, err}
	}()

	readErr := func() error {
		defer func() {
			close(work)
			close(chunks)
		}()
		br := bufio.NewReaderSize(in, 1<<20)
		bw := bufio.NewWriterSize(app, 256<<10)
		cl := r.NewClassifier()
		cur := <-free
		send := func() error {
			if len(cur.ends) == 0 {
				return nil
			}
			if failed.Err() != nil {
				return errors.New("stopped reading: the WAL refused audit records")
			}
			chunks <- cur
			work <- cur
			cur = <-free
			cur.data, cur.ends, cur.rules = cur.data[:0], cur.ends[:0], cur.rules[:0]
			return nil
		}
		var longBuf []byte
		for {
			line, err := br.ReadSlice('\n')
			if err == bufio.ErrBufferFull {
				// A line longer than the read buffer: gather it, up to the limit.
				longBuf = append(longBuf[:0], line...)
				for err == bufio.ErrBufferFull && len(longBuf) <= cfg.MaxLineBytes {
					line, err = br.ReadSlice('\n')
					longBuf = append(longBuf, line...)
				}
				if err == bufio.ErrBufferFull {
					// Over the limit: pass it through unclassified, streaming the rest.
					st.Lines++
					st.AppLines++
					st.LongLines++
					long.Inc()
					bw.Write(longBuf)
					for err == bufio.ErrBufferFull {
						line, err = br.ReadSlice('\n')
						bw.Write(line)
					}
					if err != nil && err != io.EOF {
						return err
					}
					if err == io.EOF {
						break
					}
					continue
				}
				line = longBuf
			}
			if len(line) > 0 {
				st.Lines++
				body := line
				if body[len(body)-1] == '\n' {
					body = body[:len(body)-1]
				}
				if len(body) > 0 && body[len(body)-1] == '\r' {
					body = body[:len(body)-1]
				}
				d := cl.Route(body)
				routed[d.Rule].Inc()
				if d.To == route.Audit {
					st.AuditLines++
					cur.data = append(cur.data, body...)
					cur.ends = append(cur.ends, len(cur.data))
					cur.rules = append(cur.rules, d.Format)
					if len(cur.data) >= chunkBytes || len(cur.ends) >= chunkLines {
						if err := send(); err != nil {
							return err
						}
					}
				} else {
					st.AppLines++
					if _, werr := bw.Write(line); werr != nil {
						return fmt.Errorf("write application log: %w", werr)
					}
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("read input: %w", err)
			}
			if br.Buffered() == 0 {
				// The input is idle: hand over what we have and flush the
				// application's lines before blocking on the next read.
				if err := send(); err != nil {
					return err
				}
				if err := bw.Flush(); err != nil {
					return fmt.Errorf("write application log: %w", err)
				}
			}
		}
		if err := send(); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write application log: %w", err)
		}
		return nil
	}()
	res := <-appended
	mappers.Wait()
	ms := res.st
	st.Events, st.Rejects, st.Dropped, st.LastIndex = ms.Events, ms.Rejects, ms.Dropped, ms.LastIndex
	return st, errors.Join(res.err, readErr)
}

// mapChunk turns a chunk's lines into event or reject records.
func mapChunk(c *chunk, d mapping.Defaults, ing *node.Ingester) {
	now := time.Now()
	c.out, c.outEnds, c.events = c.out[:0], c.outEnds[:0], 0
	start := 0
	for i, end := range c.ends {
		line := c.data[start:end]
		start = end
		e, err := mapping.Map(line, c.rules[i], d)
		if err != nil {
			c.out = ing.AppendReject(c.out, err, line, d.Source, d.Tenant, now)
		} else {
			c.out = node.AppendEvent(c.out, e, now)
			c.events++
		}
		c.outEnds = append(c.outEnds, len(c.out))
	}
	c.mapped <- struct{}{}
}

// appendLoop appends each chunk's records to the WAL, in input order.
func appendLoop(ctx context.Context, cfg Config, chunks <-chan *chunk, free chan<- *chunk, ing *node.Ingester, fail func()) (Stats, error) {
	var st Stats
	var failed error
	var unsynced int // bytes appended since the last wait for the WAL's fsync
	for c := range chunks {
		<-c.mapped
		if failed != nil {
			free <- c // keep the reader moving; the error is reported below
			continue
		}
		c.recs = c.recs[:0]
		start := 0
		for _, end := range c.outEnds {
			c.recs = append(c.recs, c.out[start:end])
			start = end
		}
		rejects := len(c.recs) - c.events
		last, err := ing.Append(ctx, c.recs, cfg.Policy)
		switch {
		case errors.Is(err, node.ErrDropped):
			st.Dropped += uint64(node.Dropped(err))
		case err != nil:
			failed = fmt.Errorf("append to WAL: %w", err)
			fail()
		default:
			st.Events += uint64(c.events)
			st.Rejects += uint64(rejects)
			st.LastIndex = last
			ing.Accepted(c.events)
			// Do not run ahead of the disk: the WAL holds appended bytes in
			// memory until its flusher has written them.
			if unsynced += len(c.out); unsynced >= maxUnsynced {
				if err := ing.Sync(ctx, last, 0); err != nil {
					failed = fmt.Errorf("sync WAL: %w", err)
					fail()
				}
				unsynced = 0
			}
		}
		clear(c.recs)
		free <- c
	}
	return st, failed
}
