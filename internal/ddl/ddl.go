// Package ddl writes the CREATE TABLE statements that let a query engine
// read kansa's Parquet archive where it lies, without a crawler: Athena
// with partition projection matching the archive's prefix template, Trino's
// Hive connector, and DuckDB.
//
// The partitions come from the prefix template (archive.Template.Partitions):
// each path element name=!{…} is one partition column. Their values are in
// the archive's time zone, which query engines cannot know; the statement
// says which it is in a comment.
package ddl

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kansa-audit/kansa/internal/archive"
)

// Type is a column's type in the archive's Parquet files.
type Type uint8

const (
	String    Type = iota + 1
	Int64          // INT64
	Timestamp      // INT64 TIMESTAMP(MICROS, UTC)
)

// Column is one column of the archive's Parquet files.
type Column struct {
	Name string
	Type Type
}

// Options say what to describe.
type Options struct {
	// Engine is athena, trino or duckdb.
	Engine string
	// Table names the table (or DuckDB view). Default kansa_events.
	Table string
	// Location is where the archive's objects are: s3://bucket/prefix/ or
	// a local directory. The template's literal base is appended.
	Location string
	// Prefix is the Parquet files' prefix template.
	Prefix *archive.Template
	// TimeZone the template is evaluated in, for the comment.
	TimeZone string
	// Columns of the Parquet files.
	Columns []Column
}

// Engines lists what Generate accepts.
var Engines = []string{"athena", "duckdb", "trino"}

// Generate returns the statements for o.Engine.
func Generate(o Options) (string, error) {
	if o.Table == "" {
		o.Table = "kansa_events"
	}
	if o.Location == "" {
		return "", fmt.Errorf("ddl: no location (an s3:// URL or a directory)")
	}
	if o.Prefix == nil {
		return "", fmt.Errorf("ddl: no prefix template")
	}
	base, parts, err := o.Prefix.Partitions()
	if err != nil {
		return "", fmt.Errorf("ddl: %w", err)
	}
	loc := strings.TrimRight(o.Location, "/") + "/" + base
	d := desc{o: o, loc: loc, parts: parts}
	for _, c := range o.Columns { // a column named like a partition comes from the path
		if !d.isPartition(c.Name) {
			d.cols = append(d.cols, c)
		}
	}
	switch o.Engine {
	case "athena":
		return d.athena()
	case "trino":
		return d.trino()
	case "duckdb":
		return d.duckdb()
	}
	return "", fmt.Errorf("ddl: unknown engine %q (want %s)", o.Engine, strings.Join(Engines, ", "))
}

type desc struct {
	o     Options
	loc   string
	parts []archive.Partition
	cols  []Column
}

func (d *desc) isPartition(name string) bool {
	for _, p := range d.parts {
		if p.Name == name {
			return true
		}
	}
	return false
}

func (d *desc) header(b *strings.Builder) {
	tz := d.o.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	fmt.Fprintf(b, "-- kansa archive, Parquet under %s\n", d.loc)
	fmt.Fprintf(b, "-- prefix %s; time partitions are in %s, the column time is UTC\n", d.o.Prefix, tz)
}

// intTime reports whether a time partition is one integer field.
func intTime(f string) (lo, hi, digits int, ok bool) {
	switch f {
	case "yyyy":
		return 2000, 2099, 4, true
	case "yy":
		return 0, 99, 2, true
	case "MM":
		return 1, 12, 2, true
	case "dd":
		return 1, 31, 2, true
	case "HH":
		return 0, 23, 2, true
	case "mm", "ss":
		return 0, 59, 2, true
	}
	return 0, 0, 0, false
}

func (d *desc) athena() (string, error) {
	var b strings.Builder
	d.header(&b)
	b.WriteString("-- tenant and source partitions are injected: every query names them (WHERE tenant = 'default')\n")
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS `%s` (\n", d.o.Table)
	for i, c := range d.cols {
		t := map[Type]string{String: "string", Int64: "bigint", Timestamp: "timestamp"}[c.Type]
		fmt.Fprintf(&b, "  `%s` %s%s\n", c.Name, t, comma(i, len(d.cols)))
	}
	b.WriteString(")\nPARTITIONED BY (")
	props := [][2]string{{"projection.enabled", "true"}}
	tmpl := d.loc
	for i, p := range d.parts {
		typ := "string"
		switch p.Kind {
		case archive.PartitionTenant, archive.PartitionSource:
			props = append(props, [2]string{"projection." + p.Name + ".type", "injected"})
		case archive.PartitionTime:
			if lo, hi, digits, ok := intTime(p.Format); ok {
				typ = "int"
				props = append(props, [2]string{"projection." + p.Name + ".type", "integer"},
					[2]string{"projection." + p.Name + ".range", fmt.Sprintf("%d,%d", lo, hi)},
					[2]string{"projection." + p.Name + ".digits", fmt.Sprint(digits)})
			} else {
				props = append(props, [2]string{"projection." + p.Name + ".type", "date"},
					[2]string{"projection." + p.Name + ".format", p.Format},
					[2]string{"projection." + p.Name + ".range", "2000-01-01 00:00:00,NOW"},
					[2]string{"projection." + p.Name + ".interval", "1"},
					[2]string{"projection." + p.Name + ".interval.unit", dateUnit(p.Format)})
			}
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "`%s` %s", p.Name, typ)
		tmpl += p.Name + "=${" + p.Name + "}/"
	}
	if len(d.parts) == 0 {
		return "", fmt.Errorf("ddl: the prefix %s has no partitions; Athena would scan every object", d.o.Prefix)
	}
	props = append(props, [2]string{"storage.location.template", tmpl})
	fmt.Fprintf(&b, ")\nSTORED AS PARQUET\nLOCATION '%s'\nTBLPROPERTIES (\n", d.loc)
	for i, p := range props {
		fmt.Fprintf(&b, "  '%s' = '%s'%s\n", p[0], p[1], comma(i, len(props)))
	}
	b.WriteString(");\n")
	return b.String(), nil
}

// dateUnit is the finest unit a date-formatted partition has.
func dateUnit(f string) string {
	switch {
	case strings.Contains(f, "ss"):
		return "SECONDS"
	case strings.Contains(f, "mm"):
		return "MINUTES"
	case strings.Contains(f, "HH"):
		return "HOURS"
	case strings.Contains(f, "dd"):
		return "DAYS"
	case strings.Contains(f, "MM"):
		return "MONTHS"
	}
	return "YEARS"
}

func (d *desc) trino() (string, error) {
	var b strings.Builder
	d.header(&b)
	b.WriteString("-- in a Hive catalog named hive and a schema named kansa; partitions are found by the CALL below (run it again to pick up new ones)\n")
	fmt.Fprintf(&b, "CREATE TABLE IF NOT EXISTS hive.kansa.%s (\n", d.o.Table)
	n := len(d.cols) + len(d.parts)
	i := 0
	for _, c := range d.cols {
		t := map[Type]string{String: "varchar", Int64: "bigint", Timestamp: "timestamp(6)"}[c.Type]
		fmt.Fprintf(&b, "  \"%s\" %s%s\n", c.Name, t, comma(i, n))
		i++
	}
	var names []string
	for _, p := range d.parts { // partition columns come last in Trino
		fmt.Fprintf(&b, "  \"%s\" varchar%s\n", p.Name, comma(i, n))
		names = append(names, "'"+p.Name+"'")
		i++
	}
	fmt.Fprintf(&b, ") WITH (\n  external_location = '%s',\n  format = 'PARQUET',\n  partitioned_by = ARRAY[%s]\n);\n",
		d.loc, strings.Join(names, ", "))
	fmt.Fprintf(&b, "CALL hive.system.sync_partition_metadata('kansa', '%s', 'ADD');\n", d.o.Table)
	return b.String(), nil
}

func (d *desc) duckdb() (string, error) {
	var b strings.Builder
	d.header(&b)
	if strings.HasPrefix(d.loc, "s3://") {
		b.WriteString("INSTALL httpfs; LOAD httpfs;\n-- and CREATE SECRET (TYPE s3, PROVIDER credential_chain) for the bucket's credentials\n")
	}
	fmt.Fprintf(&b, "CREATE OR REPLACE VIEW %s AS\nSELECT * FROM %s;\n", d.o.Table, DuckDBScan([]string{d.loc + "**/*.parquet"}, d.parts, "\n  "))
	return b.String(), nil
}

// DuckDBType is the DuckDB type of a partition column in the view the
// DuckDB DDL creates: INTEGER for a time partition of one integer field
// (yyyy, MM, dd, HH, mm, ss), VARCHAR otherwise.
func DuckDBType(p archive.Partition) string {
	if p.Kind == archive.PartitionTime {
		if _, _, _, ok := intTime(p.Format); ok {
			return "INTEGER"
		}
	}
	return "VARCHAR"
}

// DuckDBScan returns the read_parquet call of the DuckDB view over the
// files that globs match (one glob, or a list), with the partitions parts
// read from the paths (hive_partitioning) and typed by DuckDBType. sep goes
// before the options ("\n  " or " "). Globs are quoted as SQL strings.
func DuckDBScan(globs []string, parts []archive.Partition, sep string) string {
	quoted := make([]string, len(globs))
	for i, g := range globs {
		quoted[i] = "'" + strings.ReplaceAll(g, "'", "''") + "'"
	}
	files := strings.Join(quoted, ", ")
	if len(globs) != 1 {
		files = "[" + files + "]"
	}
	var types []string
	for _, p := range parts {
		types = append(types, fmt.Sprintf("'%s': %s", strings.ReplaceAll(p.Name, "'", "''"), DuckDBType(p)))
	}
	sort.Strings(types)
	return fmt.Sprintf("read_parquet(%s,%shive_partitioning = true,%shive_types = {%s})", files, sep, sep, strings.Join(types, ", "))
}

func comma(i, n int) string {
	if i < n-1 {
		return ","
	}
	return ""
}
