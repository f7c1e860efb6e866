#!/usr/bin/env bash
# Parquet archive benchmark: encode throughput and size against gzip NDJSON
# (internal/parquetfile BenchmarkWrite, BenchmarkArchiveBatch), and DuckDB
# lookups by target and by actor for each sort order (BenchmarkLookup, cgo).
#
#   bash bench/parquet.sh                 (about 8 minutes on 2 cores)
#   LOOKUPS=0 bash bench/parquet.sh       (skip the DuckDB part, which needs cgo)
#
# BENCHTIME (default 20x) repeats the encoding benchmarks; BATCHES (24) sets
# the lookup archive's size in 10 MB batches, LOOKUP_TIMES (200x) the
# lookups per sort order, layout and key.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "Parquet archive, synthetic audit mix, 10 MB batches ($(nproc) cores, $(date -u +%F))"

go test -run '^$' -bench 'BenchmarkWrite|BenchmarkArchiveBatch' -benchtime "${BENCHTIME:-20x}" ./internal/parquetfile/ > "$out"

echo
echo "== encode one 10 MB batch as one file"
printf '%-8s %12s %10s %12s %10s\n' sort events/s MB/s B/op allocs/op
awk '/^BenchmarkWrite\/sort=/ {
	split($1, a, "="); sub(/-[0-9]+$/, "", a[2])
	for (i = 2; i < NF; i++) m[$(i+1)] = $i
	printf "%-8s %12.0f %10.1f %12d %10d\n", a[2], m["events/s"], m["MB/s"], m["B/op"], m["allocs/op"]
}' "$out"

echo
echo "== archive a batch: one file per tenant/day partition (8 batches)"
printf '%-22s %10s %12s %10s %12s\n' format B/event events/s MB/s vs-gzip-1
awk '/^BenchmarkArchiveBatch\// {
	name = $1; sub(/^BenchmarkArchiveBatch\//, "", name); sub(/-[0-9]+$/, "", name)
	delete m; for (i = 2; i < NF; i++) m[$(i+1)] = $i
	be[name] = m["B/event"]; eps[name] = m["events/s"]; mbs[name] = m["MB/s"]; order[++n] = name
	if ("ndjson-B/event" in m) raw = m["ndjson-B/event"]
}
END {
	base = be["gzip-ndjson/level=1"]
	printf "%-22s %10.1f %12s %10s %12s\n", "ndjson (uncompressed)", raw, "-", "-", sprintf("%.2f", raw / base)
	for (i = 1; i <= n; i++) printf "%-22s %10.1f %12.0f %10.1f %12.2f\n", order[i], be[order[i]], eps[order[i]], mbs[order[i]], be[order[i]] / base
}' "$out"

if [ "${LOOKUPS:-1}" != 0 ]; then
	KANSA_BENCH_BATCHES=${BATCHES:-24} go test -run '^$' -bench BenchmarkLookup -benchtime "${LOOKUP_TIMES:-200x}" -timeout 60m ./internal/parquetfile/ > "$out"
	echo
	echo "== DuckDB lookup of one record's or actor's history in a tenant (${BATCHES:-24} batches)"
	printf '%-16s %-8s %8s %8s %12s %12s\n' layout sort files B/event target-ms actor-ms
	awk '/^BenchmarkLookup\// {
		split($1, p, "/"); l = p[2]; by = p[3]; s = p[4]; sub(/^layout=/, "", l); sub(/^by=/, "", by); sub(/^sort=/, "", s); sub(/-[0-9]+$/, "", s)
		delete m; for (i = 2; i < NF; i++) m[$(i+1)] = $i
		k = l " " s; if (!(k in seen)) { seen[k] = 1; keys[++n] = k }
		ms[k, by] = m["ns/op"] / 1e6; files[k] = m["files"]; be[k] = m["B/event"]
	}
	END {
		for (i = 1; i <= n; i++) { split(keys[i], a, " "); printf "%-16s %-8s %8d %8.1f %12.2f %12.2f\n", a[1], a[2], files[keys[i]], be[keys[i]], ms[keys[i], "target"], ms[keys[i], "actor"] }
	}' "$out"
fi
