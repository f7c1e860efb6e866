package audit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// An Output receives encoded events from a Logger. A Logger calls Write and
// Sync from one goroutine only; Stats may be called concurrently.
type Output interface {
	// Write takes one event: a JSON object and its '\n'. The Output must not
	// keep line after returning. An error means the event is lost (a full
	// spool); the Logger counts and logs it.
	Write(line []byte) error
	// Sync makes every line written so far durable: fsync'd to a file or
	// spool, or handed to the stream the Output writes to.
	Sync() error
	// Close syncs and releases the Output. For an Output that delivers in the
	// background, ctx bounds how long it keeps trying first.
	Close(ctx context.Context) error
}

// OutputStats are the counters of an Output that delivers to a server.
type OutputStats struct {
	Sent       uint64 // lines acknowledged by the server: events and heartbeats
	Rejected   uint64 // refused by the server as invalid (listed in its errors); logged
	Attempts   uint64 // requests made
	Failures   uint64 // requests that failed and were retried
	SpoolBytes int64  // spooled, not yet acknowledged
	SpoolFull  uint64 // events refused because the spool was full
}

// WriterOutput writes JSON lines to an io.Writer: stdout for a sidecar such
// as kansa route, or a file. Lines are buffered and written out on Sync,
// which the Logger calls at least every Config.SyncInterval.
type WriterOutput struct {
	mu     sync.Mutex
	w      *bufio.Writer
	file   *os.File // fsync'd on Sync when set and FsyncFile is true
	closer io.Closer
	fsync  bool
}

// NewWriterOutput returns an Output writing to w. If w is an *os.File other
// than stdout or stderr, Sync also fsyncs it.
func NewWriterOutput(w io.Writer) *WriterOutput {
	o := &WriterOutput{w: bufio.NewWriterSize(w, 64<<10)}
	if f, ok := w.(*os.File); ok && f != os.Stdout && f != os.Stderr {
		o.file, o.fsync = f, true
	}
	return o
}

// Stdout returns an Output writing JSON lines to standard output, the way
// AuditLoggable does, for kansa route or any log router to pick up.
func Stdout() *WriterOutput { return NewWriterOutput(os.Stdout) }

// OpenFile returns an Output appending JSON lines to the file at path,
// creating it if needed. Sync fsyncs it; Close closes it.
func OpenFile(path string) (*WriterOutput, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("audit: open output file: %w", err)
	}
	o := NewWriterOutput(f)
	o.closer = f
	return o, nil
}

// Write buffers line.
func (o *WriterOutput) Write(line []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, err := o.w.Write(line)
	return err
}

// Sync writes out the buffer (and fsyncs a file).
func (o *WriterOutput) Sync() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err := o.w.Flush(); err != nil {
		return err
	}
	if o.fsync {
		return o.file.Sync()
	}
	return nil
}

// Close syncs, and closes a file opened by OpenFile.
func (o *WriterOutput) Close(context.Context) error {
	err := o.Sync()
	if o.closer != nil {
		err = errors.Join(err, o.closer.Close())
		o.closer = nil
	}
	return err
}

var _ Output = (*WriterOutput)(nil)
