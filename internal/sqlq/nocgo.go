//go:build !cgo

package sqlq

import "context"

// Query returns ErrNoCgo: DuckDB needs cgo.
func (e *Engine) Query(ctx context.Context, req Request) (*Result, error) { return nil, ErrNoCgo }
