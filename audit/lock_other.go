//go:build !unix

package audit

import (
	"fmt"
	"os"
)

// lockDir creates the lock file; platforms without flock get no exclusion.
func lockDir(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: lock spool: %w", err)
	}
	return f, nil
}
