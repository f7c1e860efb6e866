package wal

// Test access to internals.

const (
	HeaderSize      = headerSize
	FrameHeaderSize = frameHeaderSize
)

// Fsyncs returns how many times the flusher has fdatasync'd segment data.
func (w *WAL) Fsyncs() int64 { return w.fsyncs.Load() }

// SetSyncHook installs fn to run after every data fdatasync of the flusher;
// an error from fn is treated as an fsync failure. Call it before the first
// Append.
func (w *WAL) SetSyncHook(fn func() error) {
	w.mu.Lock()
	w.testHookSync = fn
	w.mu.Unlock()
}

// SegmentName is the file name of the segment starting at first.
func SegmentName(first uint64) string { return segmentName(first) }

// EncodeHeader and AppendFrame build segment files by hand.
func EncodeHeader(first uint64) []byte   { return encodeHeader(first) }
func AppendFrame(dst, rec []byte) []byte { return appendFrame(dst, rec) }
