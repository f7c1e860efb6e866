// Command naiveserver is the baseline that kansa's HTTP ingest is measured
// against: a server that only validates each NDJSON line with encoding/json
// and appends the body to one file with group-commit fsync before answering.
// No mapping, no WAL framing, no archive. It answers like kansa
// ({"accepted":N,"errors":[]}), so bench/httpload drives both.
//
//	go run ./bench/naiveserver -listen 127.0.0.1:7701 -file /tmp/naive.log
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"sync"
)

type log_ struct {
	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	pending []byte
	written uint64 // bytes appended
	synced  uint64 // bytes fsync'd
}

func (l *log_) append(b []byte) uint64 {
	l.mu.Lock()
	l.pending = append(l.pending, b...)
	l.written += uint64(len(b))
	end := l.written
	l.cond.Broadcast()
	l.mu.Unlock()
	return end
}

func (l *log_) wait(end uint64) {
	l.mu.Lock()
	for l.synced < end {
		l.cond.Wait()
	}
	l.mu.Unlock()
}

// flusher writes and fsyncs whatever is pending, for all waiters at once.
func (l *log_) flusher() {
	var buf []byte
	for {
		l.mu.Lock()
		for len(l.pending) == 0 {
			l.cond.Wait()
		}
		buf, l.pending = l.pending, buf[:0]
		end := l.written
		l.mu.Unlock()
		if _, err := l.f.Write(buf); err != nil {
			log.Fatal(err)
		}
		if err := l.f.Sync(); err != nil {
			log.Fatal(err)
		}
		l.mu.Lock()
		l.synced = end
		l.cond.Broadcast()
		l.mu.Unlock()
	}
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7701", "`address`")
	file := flag.String("file", "naive-ingest.log", "append `file`")
	flag.Parse()
	f, err := os.OpenFile(*file, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	l := &log_{f: f}
	l.cond = sync.NewCond(&l.mu)
	go l.flusher()
	http.HandleFunc("POST /v1/events", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		n := 0
		for _, line := range bytes.Split(body, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if json.Valid(line) {
				n++
			}
		}
		l.wait(l.append(body))
		fmt.Fprintf(w, `{"accepted":%d,"errors":[]}`+"\n", n)
	})
	log.Fatal(http.ListenAndServe(*listen, nil))
}
