#!/usr/bin/env bash
# Change capture throughput: rows inserted into a published table on a
# throwaway PostgreSQL (scripts/pg.sh), captured by kansa serve through its
# replication slot, until every one is accepted (durable in kansa's WAL).
#
#   bash bench/pgcdc.sh [ROWS] [ROWS_PER_TXN]    (defaults 200000 and 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
rows=${1:-200000}
per=${2:-1000}
work=${BENCH_DIR:-/tmp/kansa-bench-pgcdc}
rm -rf "$work" && mkdir -p "$work"
go build -o "$work/kansa" ./cmd/kansa
eval "$(bash scripts/pg.sh start)"
trap 'kill $(cat "$work/pid" 2>/dev/null) 2>/dev/null || true; bash scripts/pg.sh stop "$KANSA_TEST_PGDIR"' EXIT
psql=/usr/lib/postgresql/15/bin/psql
[ -x "$psql" ] || psql=psql
"$psql" -q "$KANSA_TEST_PG" -c "CREATE TABLE orders(id bigint primary key, status text, total numeric, note text)" \
	-c "ALTER TABLE orders REPLICA IDENTITY FULL" -c "CREATE PUBLICATION kansa_pub FOR TABLE orders"
cat > "$work/kansa.yaml" <<YAML
inputs:
  postgres:
    - name: bench
      dsn: "$KANSA_TEST_PG"
      publication: kansa_pub
      status_interval: 1s
YAML
"$work/kansa" serve --data "$work/data" --config "$work/kansa.yaml" --listen 127.0.0.1:17931 > "$work/serve.out" 2> "$work/serve.log" &
echo $! > "$work/pid"
until "$psql" -tA "$KANSA_TEST_PG" -c "SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'kansa_bench'" | grep -q 1; do sleep 0.1; done
accepted() { curl -s 127.0.0.1:17931/metrics | awk '/^kansa_accepted_total/ {print $2}'; }
echo "change capture: $rows rows in transactions of $per ($(nproc) cores, $(date -u +%F))"
start=$(date +%s.%N)
for ((i = 0; i < rows; i += per)); do
	echo "INSERT INTO orders SELECT g, 'new', g * 1.5, 'note ' || g FROM generate_series($i, $((i + per - 1))) g;"
done | "$psql" -q "$KANSA_TEST_PG"
inserted=$(date +%s.%N)
until [ "$(accepted)" -ge "$rows" ] 2>/dev/null; do sleep 0.05; done
done_at=$(date +%s.%N)
awk -v s="$start" -v i="$inserted" -v d="$done_at" -v n="$rows" 'BEGIN {
	printf "inserted in %.2f s; all %d captured and durable %.2f s after the first insert: %.0f change events/s\n", i - s, n, d - s, n / (d - s) }'
