// Package sqlq answers investigators' SQL over the archive's Parquet files:
// `kansa sql` and POST /v1/sql both call Engine.Query.
//
// # The relation
//
// A query sees one relation, events: a DuckDB view over read_parquet of the
// local archive's Parquet files (archive.parquet_prefix), with the
// partitions of the prefix read from the paths and typed as `kansa ddl
// --engine duckdb` types them (internal/ddl). Columns are those of
// internal/parquetfile/SCHEMA.md plus the partitions (year, month, day by
// default, in archive.time_zone).
//
// A tenant restriction (Request.Tenants) is made of files, not of a WHERE
// clause: the view reads only the directories of those tenants' tenant=
// partition, and those directories are the only ones DuckDB may open, so
// no query (read_parquet of the archive path, glob, read_text…) reaches
// another tenant's rows. A restricted query over tenants without files sees
// an empty events with the same columns.
//
// # The sandbox
//
// Every query runs in its own in-memory DuckDB, opened for it and closed
// after it, set up in this order:
//
//  1. allowed_directories = the directories the view reads;
//     temp_directory = ” (nothing spills to disk); TimeZone = 'UTC';
//  2. enable_external_access = false: DuckDB opens no file outside
//     allowed_directories (no COPY … TO, ATTACH, read_csv('/etc/passwd'),
//     INSTALL, LOAD, http or s3 URLs), checked by DuckDB's file system layer;
//  3. autoinstall_known_extensions, autoload_known_extensions and
//     allow_community_extensions = false;
//  4. CREATE VIEW events;
//  5. lock_configuration = true: no SET, RESET or PRAGMA can change a
//     setting from here on.
//
// Then the caller's text must be one statement (it is parsed by DuckDB,
// and refused when it holds more, before anything runs) whose prepared type
// is SELECT (SELECT, WITH … SELECT, VALUES, FROM …, DESCRIBE, SUMMARIZE,
// PIVOT, SHOW). Everything else — CREATE, INSERT, COPY, ATTACH, SET,
// PRAGMA, CALL, EXPLAIN, INSTALL, LOAD, USE — is refused (ErrRefused)
// before it runs: the settings above stop what reaches files, the
// statement type stops what would change the in-memory database or the
// session (DuckDB lets PRAGMA enable_profiling and SET VARIABLE through a
// locked configuration).
//
// # Limits
//
// A query runs under Request.Timeout (DefaultTimeout): when it passes,
// DuckDB is interrupted and Query returns ErrTimeout. At most
// Request.MaxRows rows (DefaultMaxRows) are returned; a result with more
// is an error (ErrTooManyRows) and no rows are returned, so that a cut
// result is never taken for a whole one. The statement is run wrapped as
// SELECT … FROM (query) LIMIT MaxRows+1, so DuckDB stops early instead of
// building a large result; JSON-typed columns come back as their text (an
// integer above 2^53 stays exact).
//
// # Build
//
// DuckDB needs cgo. In a CGO_ENABLED=0 build Query returns ErrNoCgo, and
// the rest of the package (requests, results, formats) works the same.
package sqlq
