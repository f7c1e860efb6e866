package ddl

import (
	"strings"
	"testing"

	"github.com/kansa-audit/kansa/internal/archive"
)

var cols = []Column{{"id", String}, {"time", Timestamp}, {"action", String}, {"tenant", String}, {"seq_n", Int64}}

func gen(t *testing.T, engine, prefix, loc string) string {
	t.Helper()
	tm, err := archive.ParseTemplate(prefix)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Generate(Options{Engine: engine, Location: loc, Prefix: tm, TimeZone: "Asia/Tokyo", Columns: cols})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestAthenaProjectionMatchesThePrefix(t *testing.T) {
	out := gen(t, "athena", "parquet/"+archive.DefaultPrefix, "s3://audit-archive/kansa")
	for _, want := range []string{
		"CREATE EXTERNAL TABLE IF NOT EXISTS `kansa_events` (",
		"`time` timestamp,",
		"`seq_n` bigint\n",
		"PARTITIONED BY (`tenant` string, `year` int, `month` int, `day` int)",
		"LOCATION 's3://audit-archive/kansa/parquet/'",
		"'projection.tenant.type' = 'injected'",
		"'projection.month.range' = '1,12'",
		"'projection.month.digits' = '2'",
		"'storage.location.template' = 's3://audit-archive/kansa/parquet/tenant=${tenant}/year=${year}/month=${month}/day=${day}/'",
		"time partitions are in Asia/Tokyo",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "`tenant` string,\n") {
		t.Errorf("tenant is both a column and a partition:\n%s", out)
	}
	dt := gen(t, "athena", "dt=!{timestamp:yyyy-MM-dd}/", "s3://b")
	for _, want := range []string{"'projection.dt.type' = 'date'", "'projection.dt.format' = 'yyyy-MM-dd'", "'projection.dt.interval.unit' = 'DAYS'"} {
		if !strings.Contains(dt, want) {
			t.Errorf("missing %q in\n%s", want, dt)
		}
	}
}

func TestTrinoAndDuckDB(t *testing.T) {
	tr := gen(t, "trino", archive.DefaultPrefix, "s3://b/p/")
	for _, want := range []string{"external_location = 's3://b/p/'", "partitioned_by = ARRAY['tenant', 'year', 'month', 'day']", "\"time\" timestamp(6),", "sync_partition_metadata"} {
		if !strings.Contains(tr, want) {
			t.Errorf("missing %q in\n%s", want, tr)
		}
	}
	dd := gen(t, "duckdb", archive.DefaultPrefix, "/var/lib/kansa/archive")
	for _, want := range []string{"read_parquet('/var/lib/kansa/archive/**/*.parquet'", "hive_partitioning = true", "'month': INTEGER", "'tenant': VARCHAR"} {
		if !strings.Contains(dd, want) {
			t.Errorf("missing %q in\n%s", want, dd)
		}
	}
}

func TestErrors(t *testing.T) {
	tm, _ := archive.ParseTemplate("!{timestamp:yyyy}/")
	if _, err := Generate(Options{Engine: "athena", Location: "s3://b", Prefix: tm}); err == nil || !strings.Contains(err.Error(), "Hive-style") {
		t.Errorf("non-Hive prefix: %v", err)
	}
	tm, _ = archive.ParseTemplate(archive.DefaultPrefix)
	if _, err := Generate(Options{Engine: "spark", Location: "s3://b", Prefix: tm}); err == nil || !strings.Contains(err.Error(), "athena, duckdb, trino") {
		t.Errorf("unknown engine: %v", err)
	}
}
