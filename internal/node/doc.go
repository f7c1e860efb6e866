// Package node assembles one kansa data directory into a running pipeline:
// the directory lock, the WAL, the archive writer and its batcher, the
// router, the metrics, and the front door inputs use to make records durable.
//
// One process owns a data directory at a time (an flock on <data>/LOCK).
// `kansa serve` and `kansa route` own theirs; commands that only read
// (`kansa search`) take the lock when nobody holds it and otherwise ask the
// owner over the socket <data>/kansa.sock.
package node
