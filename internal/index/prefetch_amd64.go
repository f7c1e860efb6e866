//go:build amd64 && !purego

package index

// prefetch asks the CPU to bring the cache line at p in (prefetch_amd64.s)
// without waiting for it. A spill reads its keys in sorted order, which
// is all over the chunks: loading each key when its turn came left the
// core waiting on memory for most of writing a run.
//
//go:noescape
func prefetch(p *byte)
