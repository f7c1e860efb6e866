// Command naiveroute is the baseline that `kansa route` is measured against:
// the plain loop anyone would write first. It reads lines on stdin, parses
// each with encoding/json, classifies it (a "record" object or
// "schema":"kansa.audit/v1" is audit), writes application lines to stdout,
// and appends audit lines to a gzip file, fsyncing every MB. Single
// goroutine, no WAL, no mapping, no archive layout.
//
//	go run ./bench/naiveroute -out /tmp/audit.ndjson.gz < mixed.log > /dev/null
package main

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
)

func main() {
	out := flag.String("out", "naive-audit.ndjson.gz", "audit output `file`")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 8<<20)
	app := bufio.NewWriterSize(os.Stdout, 256<<10)
	var sinceSync, lines, audit int
	for in.Scan() {
		line := in.Bytes()
		lines++
		var m map[string]json.RawMessage
		isAudit := false
		if json.Unmarshal(line, &m) == nil {
			if r, ok := m["record"]; ok && len(r) > 0 && r[0] == '{' {
				isAudit = true
			} else if s, ok := m["schema"]; ok && string(s) == `"kansa.audit/v1"` {
				isAudit = true
			}
		}
		if !isAudit {
			app.Write(line)
			app.WriteByte('\n')
			continue
		}
		audit++
		zw.Write(line)
		zw.Write([]byte{'\n'})
		sinceSync += len(line) + 1
		if sinceSync >= 1<<20 {
			zw.Flush()
			f.Sync()
			sinceSync = 0
		}
	}
	app.Flush()
	zw.Close()
	f.Sync()
	f.Close()
	fmt.Fprintf(os.Stderr, "naiveroute: %d lines, %d audit\n", lines, audit)
}
