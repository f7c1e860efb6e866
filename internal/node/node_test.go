package node_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/event"
	"github.com/kansa-audit/kansa/internal/index"
	"github.com/kansa-audit/kansa/internal/node"
	"github.com/kansa-audit/kansa/internal/record"
)

func TestSecondOwnerIsRefused(t *testing.T) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	if _, err := node.Open(cfg, nil); !errors.Is(err, node.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
}

// TestIndexSink: with the index enabled, acknowledged events become
// searchable through it within its interval, before the archive's batch
// closes.
func TestIndexSink(t *testing.T) {
	cfg := config.Defaults()
	cfg.Data = t.TempDir()
	cfg.Index.Enabled = true
	cfg.Index.MaxInterval = 50 * time.Millisecond
	cfg.Batch.MaxInterval = time.Hour // the archive holds its batch open
	n, err := node.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown(context.Background())
	n.Start()
	var recs [][]byte
	now := time.Now()
	for i := range 20 {
		body := fmt.Sprintf(`{"schema":"kansa.audit/v1","id":"ix-%d","time":"2024-08-06T09:00:%02d.000000Z","action":"update","actor":{"type":"User","id":"7"},"target":{"type":"Order","id":"%d"},"source":"t","tenant":"default","outcome":"success"}`, i, i, i%3)
		recs = append(recs, record.AppendEntry(nil, record.TypeEvent, now, "default", "t", "", 0, []byte(body)))
	}
	last, err := n.Ingest.Append(context.Background(), recs, node.Block)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ingest.Sync(context.Background(), last, len(recs)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.IndexBatcher.WaitDelivered(ctx, last); err != nil {
		t.Fatal(err)
	}
	res, err := n.Index.Search(ctx, index.Request{Keys: []index.Key{{Kind: index.Target, Type: "Order", ID: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, l := range res.Events {
		e, _ := event.Decode(l)
		ids = append(ids, e.ID)
	}
	if want := []string{"ix-19", "ix-16", "ix-13", "ix-10", "ix-7", "ix-4", "ix-1"}; !slices.Equal(ids, want) {
		t.Fatalf("Order 1's history from the index: %v, want %v", ids, want)
	}
	if n.Batcher.Delivered() >= last {
		t.Fatal("the archive delivered its batch early; the test needs it open")
	}
}
