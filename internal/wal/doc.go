// Package wal is kansa's write-ahead log: an append-only sequence of opaque
// byte records, each with a dense index (1, 2, 3, … continuing across
// restarts), stored in segment files in one directory. It knows nothing of
// what the records mean; encoding them is the caller's business. The
// on-disk format is documented in docs/wal.md.
//
// # Durability
//
// Append copies records into an in-memory buffer and returns their indexes;
// it does no I/O. One background goroutine, the flusher, repeatedly takes
// everything appended so far (swapping in the buffers of its previous round,
// so appenders never wait for a write), writes it and calls fdatasync once.
// A record is durable when Synced reports its index. Sync waits for that,
// and every caller waiting during one flusher round is served by its single
// fsync (group commit). An ingest path therefore Appends, then Syncs, then
// acknowledges.
//
// A failed write or fsync is sticky: the WAL refuses further appends and
// returns the error from Sync, because after a failed fsync the kernel may
// have dropped the dirty pages and retrying would report data durable that
// is not. Close the WAL and Open it again; recovery keeps what is on disk.
//
// # Reading and releasing
//
// Readers (Scan, NewReader) read segment files, never the append buffer,
// and never past the durable length of a file, so they only ever see
// durable records. Release tells the WAL that records up to an index are no
// longer needed; whole segments holding only released records are deleted,
// which is what makes room when Options.MaxSize is set.
//
// # Invariants
//
//   - Segment file names carry the index of their first record; segments
//     follow each other without gaps: each starts at the index after the
//     last record of the previous one.
//   - The last segment is the one being written and is never deleted, so
//     the next index survives a restart even when every record has been
//     released (an empty segment's header carries it).
//   - A segment is created whole (header written and fsync'd under a
//     temporary name, renamed, directory fsync'd), and the previous segment
//     is fsync'd before the next is created, so after a crash only the end
//     of the last segment can be torn. Open truncates such a torn tail and
//     treats any other damage as corruption.
//   - Synced <= Last, and every record <= Synced is on disk and fsync'd.
package wal
