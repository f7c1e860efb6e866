// Package sqlq answers investigators' SQL over every event of a data
// directory: `kansa sql` and POST /v1/sql both call Engine.Query.
// docs/sql.md is the user's side of it.
//
// # The relation
//
// A query sees one relation, events: a DuckDB view over read_parquet of an
// explicit list of Parquet files, with the partitions of
// archive.parquet_prefix read from the paths and typed as `kansa ddl
// --engine duckdb` types them (internal/ddl). The files (snapshot) are the
// archived batches' own Parquet files when the store is a local directory
// and the batch has them; otherwise twins made from the batch's gzip
// NDJSON and kept under Engine.CacheDir; and the WAL records after the
// archive's checkpoint, written as Parquet into a directory of the query.
// This node's batches above the checkpoint are left to the WAL, so each
// event is in one file; a checkpoint that moves while the WAL is read
// (wal.ErrReleased) makes the snapshot start again.
//
// A tenant restriction (Request.Tenants) is made of files, not of a WHERE
// clause: the view and allowed_paths hold only files of those tenants'
// tenant= partition, so no query reaches another tenant's rows. A
// restricted query over tenants without files sees an empty events with
// the same columns (a Parquet file with no rows).
//
// # The sandbox
//
// Every query runs in its own in-memory DuckDB, opened for it and closed
// after it, set up in this order:
//
//  1. allowed_paths = the view's files; temp_directory empty (nothing
//     spills to disk); TimeZone = 'UTC';
//  2. enable_external_access = false: DuckDB opens no other file (no
//     COPY … TO, ATTACH, read_csv('/etc/passwd'), INSTALL, LOAD, http or
//     s3 URLs), checked by DuckDB's file system layer;
//  3. autoinstall_known_extensions, autoload_known_extensions and
//     allow_community_extensions = false;
//  4. CREATE VIEW events;
//  5. lock_configuration = true: no SET, RESET or PRAGMA can change a
//     setting from here on.
//
// Then the caller's text must start with a query's keyword (leadingWord)
// and be one statement (Prepare, unlike PrepareContext, refuses several
// without running any) whose prepared type is SELECT. Everything else is
// refused (ErrRefused) before it runs; a text that starts with no
// statement's keyword is a syntax error (ErrInvalid).
//
// # Limits
//
// A query runs under Request.Timeout (DefaultTimeout): when it passes,
// DuckDB is interrupted and Query returns ErrTimeout. At most
// Request.MaxRows rows (DefaultMaxRows) are returned; a result with more
// is an error (ErrTooManyRows) and no rows are returned, so that a cut
// result is never taken for a whole one. The statement is run wrapped as
// SELECT * FROM (query) LIMIT MaxRows+1, so DuckDB stops early instead of
// building a large result.
//
// # Build
//
// DuckDB needs cgo. In a CGO_ENABLED=0 build Query returns ErrNoCgo, and
// the rest of the package (requests, results, formats) works the same.
package sqlq
