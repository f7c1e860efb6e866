package cli

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/kansa-audit/kansa/internal/archive"
	"github.com/kansa-audit/kansa/internal/ddl"
	"github.com/kansa-audit/kansa/internal/parquetfile"
)

func runDDL(_ context.Context, args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("ddl", stderr)
	var c common
	c.register(fs)
	engine := fs.String("engine", "", "query `engine`: "+strings.Join(ddl.Engines, ", "))
	table := fs.String("table", "kansa_events", "table (or DuckDB view) `name`")
	location := fs.String("location", "", "where the archive is, as s3://bucket/prefix/ or a directory (default: the configured archive)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: kansa ddl --engine athena|trino|duckdb [flags]\n\nPrints CREATE TABLE for the Parquet archive (archive.formats must include parquet),\nwith partitions from archive.parquet_prefix, so a query engine reads it without a crawler.\n\nFlags:")
		fs.PrintDefaults()
	}
	cfg, err := c.parse(fs, args)
	if err != nil {
		return err
	}
	if *engine == "" {
		return &exitError{2, fmt.Errorf("--engine: which one? %s", strings.Join(ddl.Engines, ", "))}
	}
	if !cfg.Archive.Parquet() {
		fmt.Fprintln(stderr, "kansa ddl: note: archive.formats does not include parquet; this table describes files kansa is not writing yet")
	}
	tmpl, err := archive.ParseTemplate(cfg.Archive.ParquetPrefix)
	if err != nil {
		return fmt.Errorf("archive.parquet_prefix: %w", err)
	}
	loc := *location
	if loc == "" {
		loc = cfg.Archive.Location(cfg.Data)
		if !strings.HasPrefix(loc, "s3://") {
			if abs, err := filepath.Abs(loc); err == nil {
				loc = abs
			}
		}
	}
	out, err := ddl.Generate(ddl.Options{Engine: *engine, Table: *table, Location: loc, Prefix: tmpl,
		TimeZone: cfg.Archive.TimeZone, Columns: parquetColumns()})
	if err != nil {
		return &exitError{2, err}
	}
	_, err = io.WriteString(stdout, out)
	return err
}

// parquetColumns describes the archive's Parquet schema for ddl.
func parquetColumns() []ddl.Column {
	types := map[string]ddl.Type{"string": ddl.String, "int64": ddl.Int64, "timestamp": ddl.Timestamp}
	var cols []ddl.Column
	for _, c := range parquetfile.Columns() {
		cols = append(cols, ddl.Column{Name: c.Name, Type: types[c.Type]})
	}
	return cols
}
