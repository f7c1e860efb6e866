#!/usr/bin/env bash
# Route benchmark: `kansa route` against the naive baseline on the same
# generated stream, interleaved runs, in one session.
#
#   bash bench/route.sh [LINES] [RUNS]     (defaults 2000000 and 3)
#
# Prints, per run: wall seconds, lines/s, MB/s, CPU seconds per million
# lines, peak RSS. Needs GNU time (/usr/bin/time; Debian package "time").
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-2000000}
runs=${2:-3}
work=${BENCH_DIR:-/tmp/kansa-bench}
mkdir -p "$work"
command -v /usr/bin/time >/dev/null || { echo "bench/route.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
go build -o "$work/kansa" ./cmd/kansa
go build -o "$work/naiveroute" ./bench/naiveroute
go build -o "$work/mixgen" ./bench/mixgen
input="$work/mixed-$lines.log"
[ -s "$input" ] || "$work/mixgen" -n "$lines" -seed 1 > "$input"
bytes=$(stat -c %s "$input")
echo "input: $lines lines, $bytes bytes ($(nproc) cores, $(date -u +%F))"
report() { # name wall user sys rss_kb
	awk -v n="$1" -v w="$2" -v u="$3" -v s="$4" -v r="$5" -v l="$lines" -v b="$bytes" \
		'BEGIN { printf "%-11s %6.2f s  %8.0f lines/s  %6.1f MB/s  %5.2f CPU s/M lines  %4.0f MiB RSS\n", n, w, l/w, b/w/1e6, (u+s)/(l/1e6), r/1024 }'
}
for i in $(seq "$runs"); do
	rm -rf "$work/data" "$work/naive.gz"
	sync
	cat "$input" > /dev/null # from the page cache, as a pipe from the application would be
	/usr/bin/time -f "%e %U %S %M" -o "$work/t" "$work/kansa" route --data "$work/data" < "$input" > /dev/null 2> "$work/route.log"
	report "kansa" $(cat "$work/t")
	cat "$input" > /dev/null
	/usr/bin/time -f "%e %U %S %M" -o "$work/t" "$work/naiveroute" -out "$work/naive.gz" < "$input" > /dev/null 2>/dev/null
	report "naive" $(cat "$work/t")
done
grep -o 'route finished.*' "$work/route.log"
