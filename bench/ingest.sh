#!/usr/bin/env bash
# HTTP ingest benchmark: kansa serve against bench/naiveserver (validate each
# line, append the body, group-commit fsync), same client, same session.
#
#   bash bench/ingest.sh [SECONDS]        (default 60)
#
# 1. throughput: 8 connections, batches of 500 events, closed loop;
# 2. latency: open loop at 50,000 events/s in batches of 100 (16 connections);
# 3. sustained: open loop at SUSTAINED_RATE (default 150,000) events/s in
#    batches of 500, to show a rate at which the archive keeps up;
# after each kansa run, how far its archive is behind its WAL.
#
# KANSA_CONFIG=FILE runs kansa serve with that config (for example Parquet
# beside NDJSON into a MinIO bucket); MODES="throughput sustained" picks
# phases.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
work=${BENCH_DIR:-/tmp/kansa-bench}
mkdir -p "$work"
go build -o "$work/kansa" ./cmd/kansa
go build -o "$work/naiveserver" ./bench/naiveserver
go build -o "$work/httpload" ./bench/httpload
echo "HTTP ingest, ${secs}s per run ($(nproc) cores, $(date -u +%F))"

settle() { # let the previous run's writeback and deletions finish
	rm -rf "$work/kdata" "$work/naive.log"
	sync
}
start_kansa() {
	settle
	"$work/kansa" serve ${KANSA_CONFIG:+--config "$KANSA_CONFIG"} --data "$work/kdata" --listen 127.0.0.1:7700 > "$work/kansa.out" 2> "$work/kansa.err" &
	pid=$!
	until grep -q listening "$work/kansa.out" 2>/dev/null; do sleep 0.05; done
}
start_naive() {
	settle
	"$work/naiveserver" -listen 127.0.0.1:7701 -file "$work/naive.log" 2> "$work/naive.err" &
	pid=$!
	until curl -s -o /dev/null -X POST --data '' 127.0.0.1:7701/v1/events; do sleep 0.05; done
}
load() { # url mode args...
	local url=$1; shift
	"$work/httpload" -url "$url" -warmup 5s -duration "${secs}s" "$@" 2>&1 | grep -E '^(events acked|latency|client CPU)'
}

for mode in ${MODES:-throughput latency sustained}; do
	case $mode in
	throughput) args=(-mode throughput -conns 8 -batch 500) ;;
	latency) args=(-mode latency -rate 50000 -batch 100 -conns 16) ;;
	sustained) args=(-mode latency -rate "${SUSTAINED_RATE:-150000}" -batch 500 -conns 8) ;;
	esac
	echo "== $mode: ${args[*]}"
	start_kansa
	echo "kansa:"; load http://127.0.0.1:7700 "${args[@]}"
	echo "  archive lag at end: $(curl -s 127.0.0.1:7700/metrics | grep '^kansa_sink_lag_records' | awk '{print $2}') records"
	kill -TERM $pid; wait $pid || true
	start_naive
	echo "naive:"; load http://127.0.0.1:7701 "${args[@]}"
	kill $pid; wait $pid 2>/dev/null || true
done
