#!/usr/bin/env bash
# The Go SDK's benchmarks, side by side in one run (docs/benchmarks.md):
#
#   bash bench/sdk.sh [COUNT]         (default 5 runs of each)
#
# 1. audit: Record (the request path of an explicit event), encoding, and a
#    captured change's whole CPU (Record, encoding, spool write and fsync);
# 2. audit/gormaudit: the plugin's work for one update of a loaded model
#    (snapshot at load, diff, new snapshot, Record) and its total CPU with a
#    spool; GORM on SQLite with and without the plugin;
# 3. examples/shop on PostgreSQL: one change with no audit, with an audits
#    row in the same transaction, and with the SDK (CPU of this process and
#    of PostgreSQL per change); request latency over HTTP from 4 clients with
#    kansa up and down; the audits table's raw single-row insert rate.
#
# Uses KANSA_TEST_PG when set, else starts a cluster with scripts/pg.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-5}
if [ -z "${KANSA_TEST_PG:-}" ]; then
	pgdir=$(mktemp -d /tmp/kansa-bench-pg.XXXXXX)
	trap 'bash scripts/pg.sh stop "$pgdir" >/dev/null 2>&1 || true' EXIT
	eval "$(bash scripts/pg.sh start "$pgdir")"
	export KANSA_TEST_PG KANSA_TEST_PGDIR
fi
echo "SDK benchmarks, count $count ($(nproc) cores, $(date -u +%F))"
filter() { grep -E '^(Benchmark|ok|FAIL|---)' || true; }
echo "== audit"
(cd audit && go test -run '^$' -bench 'Record|Encode|CapturedChangeCPU' -benchtime 200000x -count "$count" .) | filter
echo "== audit/gormaudit"
(cd audit/gormaudit && go test -run '^$' -bench 'UpdateCapture|SnapshotLoad|CapturedChangeCPU' -benchtime 200000x -count "$count" .) | filter
(cd audit/gormaudit && go test -run '^$' -bench 'UpdateSQLite' -benchtime 20000x -count "$count" .) | filter
echo "== examples/shop (PostgreSQL)"
(cd examples/shop && go test -run '^$' -bench 'Change|AuditsTableInsert' -benchtime 3000x -count "$count" .) | filter
(cd examples/shop && go test -run '^$' -bench 'Request' -benchtime 3000x -count "$count" .) | filter
