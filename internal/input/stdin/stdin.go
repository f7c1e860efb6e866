// Package stdin is the sidecar input behind `kansa route`: it reads a mixed
// log stream, passes application-log lines through byte for byte and in
// order, and sends audit lines into the WAL.
//
// Two goroutines share the work so that both cores are used: the reader
// splits and classifies lines and writes application lines; the mapper turns
// audit lines into events (or rejects) and appends them to the WAL in chunks.
// The WAL's flusher writes and fsyncs behind them. A full WAL under the block
// policy stalls the mapper, then the reader, then the application's writes to
// stdout: no unaudited line gets through. Under drop, audit lines are counted
// and dropped while application lines keep flowing.
package stdin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
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

// chunk is a run of audit lines handed from the reader to the mapper.
type chunk struct {
	data  []byte
	ends  []int
	rules []mapping.Format
}

const (
	chunkBytes = 256 << 10
	chunkLines = 2048
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

	chunks := make(chan *chunk, 4)
	free := make(chan *chunk, 6)
	for range 6 {
		free <- &chunk{data: make([]byte, 0, chunkBytes+64<<10)}
	}
	var st Stats
	mapErr := make(chan error, 1)
	mapStats := make(chan Stats, 1)
	go func() {
		ms, err := mapLoop(ctx, cfg, chunks, free, ing)
		mapStats <- ms
		mapErr <- err
	}()

	readErr := func() error {
		defer close(chunks)
		br := bufio.NewReaderSize(in, 1<<20)
		bw := bufio.NewWriterSize(app, 256<<10)
		cl := r.NewClassifier()
		cur := <-free
		send := func() error {
			if len(cur.ends) == 0 {
				return nil
			}
			select {
			case chunks <- cur:
			case err := <-mapErr:
				mapErr <- err
				return fmt.Errorf("mapper stopped: %w", err)
			}
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
	ms := <-mapStats
	err := <-mapErr
	st.Events, st.Rejects, st.Dropped, st.LastIndex = ms.Events, ms.Rejects, ms.Dropped, ms.LastIndex
	return st, errors.Join(readErr, err)
}

func mapLoop(ctx context.Context, cfg Config, chunks <-chan *chunk, free chan<- *chunk, ing *node.Ingester) (Stats, error) {
	var st Stats
	var buf []byte
	var ends []int
	var recs [][]byte
	d := mapping.Defaults{Source: cfg.Source, Tenant: cfg.Tenant}
	for c := range chunks {
		now := time.Now()
		buf, ends = buf[:0], ends[:0]
		events := 0
		start := 0
		for i, end := range c.ends {
			line := c.data[start:end]
			start = end
			e, err := mapping.Map(line, c.rules[i], d)
			if err != nil {
				buf = ing.AppendReject(buf, err, line, d.Source, d.Tenant, now)
				st.Rejects++
			} else {
				buf = node.AppendEvent(buf, e, now)
				events++
			}
			ends = append(ends, len(buf))
		}
		free <- c
		recs = recs[:0]
		start = 0
		for _, end := range ends {
			recs = append(recs, buf[start:end])
			start = end
		}
		last, err := ing.Append(ctx, recs, cfg.Policy)
		switch {
		case errors.Is(err, node.ErrDropped):
			st.Dropped += uint64(len(recs))
		case err != nil:
			// Keep draining so the reader is not stuck; report the error.
			for c := range chunks {
				free <- c
			}
			return st, fmt.Errorf("append to WAL: %w", err)
		default:
			st.Events += uint64(events)
			st.LastIndex = last
			ing.Accepted(events)
		}
	}
	return st, nil
}
