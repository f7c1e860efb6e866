package node_test

import (
	"context"
	"errors"
	"testing"

	"github.com/kansa-audit/kansa/internal/config"
	"github.com/kansa-audit/kansa/internal/node"
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
