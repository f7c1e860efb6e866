#!/usr/bin/env bash
# The index build at 100,000,000 events (or N), by reference, with the
# binaries of several commits interleaved in one session, so that the
# machine's drift falls on all alike: each round runs every build once,
# in the order given.
#
#   bash bench/buildpairs.sh ROUNDS COMMIT...       e.g. 2 f7523c7 HEAD
#
# "HEAD" is the working tree. Each run prints the events/s, how long
# Finish took (the last spill, the merge, the ingest), the CPU seconds
# (user+system), the wall time and the peak RSS. The archive is written
# beside the index's directory on the first run and kept for the next
# (bench/indexeval -build ref); at 100M it takes 10 GB, the build's
# directory up to 16 GB more. Needs GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/buildat.sh
rounds=${1:?usage: bash bench/buildpairs.sh ROUNDS COMMIT...}
shift
n=${EVENTS:-100000000}
work=${BENCH_DIR:-/work}
mkdir -p "$work"
builds=()
for c in "$@"; do
	if [ "$c" = HEAD ]; then
		go build -o "$work/indexeval-HEAD" ./bench/indexeval
	else
		build_at "$c" ./bench/indexeval "$work/indexeval-$c"
	fi
	builds+=("$c")
done
echo "index build, $n events by reference; builds: ${builds[*]}; $(nproc) cores, $(date -u +%F)"
for i in $(seq "$rounds"); do
	for b in "${builds[@]}"; do
		rm -rf "$work/ier"
		sync
		out=$( { /usr/bin/time -f "%U+%S cpu-s, %e s wall, %M KB" "$work/indexeval-$b" -engine kansa -build ref -block-size 0 -n "$n" -dir "$work/ier" -lookups 10 -cold 0 -ingest-rate 0; } 2>&1)
		rate=$(grep -o '([0-9]* events/s' <<<"$out" | tr -d '(')
		fin=$(grep -o 'Finish took [^ ]*' <<<"$out")
		printf 'round %d %-10s %s; %s; %s\n' "$i" "$b" "$rate" "$fin" "$(tail -1 <<<"$out")"
	done
done
rm -rf "$work/ier"
