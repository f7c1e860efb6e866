//go:build !amd64 || purego

package index

// prefetch does nothing where there is no prefetch_amd64.s.
func prefetch(*byte) {}
