// Package parquetfile encodes archived events as Parquet files that Athena,
// Trino, Spark, ClickHouse and DuckDB read as they are.
//
// Write takes a batch of events in kansa's stored JSON encoding (the lines of
// the archive's NDJSON objects, see docs/event.md) and writes one Parquet
// file: one row per event, one typed column per field (SCHEMA.md beside this
// file is the column reference). The file is self-describing; nothing outside
// it is needed to read it.
//
// Invariants:
//
//   - Deterministic. The same events and Options always give the same bytes,
//     so a retried batch overwrites its object with identical content and the
//     manifest's SHA-256 stays valid. Rows are ordered by the sort key with
//     the event id, then the input order, breaking ties; nothing depends on
//     map order, time or the machine.
//   - Lossless for what the event says. Every field of the stored encoding
//     has a column; changes, meta and origin keep the producer's exact JSON
//     text (an integer above 2^53 stays exact); time keeps its original
//     offset in time_offset. The NDJSON object remains the system of record
//     for hashing and verification; the Parquet file is its queryable twin.
//   - Sorted. Rows are sorted by Options.Sort (default tenant, actor_type,
//     actor_id, time) and the file's row groups declare that order in their
//     sorting_columns, so engines may rely on it. Why that key: see SCHEMA.md.
//   - Bounded memory. Write holds the decoded rows of its input (their
//     strings alias the input, which the caller keeps unchanged until Write
//     returns) and one row group of column buffers; a row group is cut at
//     Options.RowGroupBytes of values or Options.RowGroupRows rows. For the
//     archive's 10 MB batches that is one row group and about three times the
//     batch in memory.
//
// Write is safe for concurrent use: calls share only a pool of zstd encoders.
package parquetfile
