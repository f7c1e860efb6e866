#!/usr/bin/env bash
# Ingest cost of chaining: `kansa route` over the same all-audit stream, built
# at HEAD and at a base commit (before chaining), runs interleaved in one
# session, so that the machine's drift falls on both alike.
#
#   bash bench/chaincost.sh BASE_COMMIT [EVENTS] [RUNS]   (defaults 2000000 and 3)
#
# The stream is the search workload (bench/indexeval -engine ndjson): every
# line is an audit event, so every line is hashed into its file's root; the
# worst case for chaining. Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: bash bench/chaincost.sh BASE_COMMIT [EVENTS] [RUNS]}
events=${2:-2000000}
runs=${3:-3}
work=${BENCH_DIR:-/tmp/kansa-chaincost}
mkdir -p "$work"
go build -o "$work/kansa-head" ./cmd/kansa
rm -rf "$work/base-src"
git worktree add -f --detach "$work/base-src" "$base" >/dev/null 2>&1
(cd "$work/base-src" && go build -o "$work/kansa-base" ./cmd/kansa)
git worktree remove --force "$work/base-src"
input="$work/events-$events.ndjson"
[ -s "$input" ] || go run ./bench/indexeval -engine ndjson -n "$events" > "$input"
bytes=$(stat -c %s "$input")
echo "input: $events events, $bytes bytes; base $base; $(nproc) cores, $(date -u +%F)"
for i in $(seq "$runs"); do
	for b in base head; do
		rm -rf "$work/data"
		sync
		cat "$input" > /dev/null
		/usr/bin/time -f "%e %U %S %M" -o "$work/t" "$work/kansa-$b" route --data "$work/data" < "$input" > /dev/null 2> "$work/route-$b.log"
		read -r wall user sys rss < "$work/t"
		awk -v n="$b" -v w="$wall" -v u="$user" -v s="$sys" -v e="$events" \
			'BEGIN { printf "run %d %-5s %6.2f s  %8.0f events/s  %5.2f CPU s/M events\n", '"$i"', n, w, e/w, (u+s)/(e/1e6) }'
	done
done
rm -rf "$work/data"
