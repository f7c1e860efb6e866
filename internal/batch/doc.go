// Package batch cuts the WAL into immutable batches and delivers each to the
// archive.
//
// The Batcher reads durable records from the WAL in order. It closes a batch
// when the batch reaches its size limit, when its oldest record has waited
// the interval, or when it is stopped. Before delivering, it appends a Batch
// record naming the range [First, Last] to the WAL and fsyncs it: the
// boundary is a fact from then on. After a crash, the Batcher finds the
// boundaries that were cut but not delivered and rebuilds exactly those
// batches from exactly those records, so their objects get the same keys and
// the same bytes.
//
// Delivery is retried with backoff until it succeeds or the Batcher is
// stopped. After a batch is delivered, its last index is saved in a
// checkpoint file (written atomically) and the WAL is told it may release
// everything up to it.
//
// Durability timeline of one event:
//
//	accepted → WAL fsync (acknowledged) → batch boundary fsync → objects and
//	manifest in the store → checkpoint → WAL segment released
package batch
