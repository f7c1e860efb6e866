package stdin

import (
	"bytes"
	"context"
	"testing"

	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/mixstream"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/record"
)

// TestRunSplitsInOrder runs the reader, the parallel mappers and the
// appender on a mixed stream (under -race in CI) and checks that application
// lines come out byte for byte and audit lines reach the WAL in input order.
func TestRunSplitsInOrder(t *testing.T) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())

	gen := mixstream.New(mixstream.Config{Seed: 11, Huge: true})
	var in, wantApp bytes.Buffer
	var keys []string
	for range 30000 {
		l := gen.Next()
		in.Write(l.Text)
		in.WriteByte('\n')
		if l.Kind.Audit() {
			keys = append(keys, l.Key)
		} else {
			wantApp.Write(l.Text)
			wantApp.WriteByte('\n')
		}
	}
	// A last line without a newline still counts.
	in.WriteString(`plain last line`)
	wantApp.WriteString(`plain last line`)

	var app bytes.Buffer
	st, err := Run(context.Background(), Config{Source: "stdin", Policy: node.Block}, &in, &app, n.Router, n.Ingest, n.Metrics)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(app.Bytes(), wantApp.Bytes()) {
		t.Fatalf("application output differs (%d vs %d bytes)", app.Len(), wantApp.Len())
	}
	if st.AuditLines != uint64(len(keys)) || st.Events != uint64(len(keys)) || st.Rejects != 0 || st.Lines != 30001 {
		t.Fatalf("stats %+v, want %d audit events", st, len(keys))
	}
	if err := n.WAL.Sync(context.Background(), st.LastIndex); err != nil {
		t.Fatal(err)
	}
	i := 0
	err = n.WAL.Scan(1, func(_ uint64, rec []byte) error {
		e, err := record.ParseEntry(rec)
		if err != nil || e.Type != record.TypeEvent {
			return err
		}
		if i >= len(keys) || !bytes.Contains(e.Body, []byte(keys[i])) {
			t.Fatalf("WAL record %d does not hold audit line %d (key %s): out of order", i+1, i, keys[min(i, len(keys)-1)])
		}
		i++
		return nil
	})
	if err != nil || i != len(keys) {
		t.Fatalf("WAL holds %d events, want %d (%v)", i, len(keys), err)
	}
}
