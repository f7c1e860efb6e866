#!/usr/bin/env bash
# Ingest cost of chaining: `kansa route` over the same all-audit stream,
# built at the working tree ("head") and at earlier commits, runs
# interleaved in one session, so that the machine's drift falls on all alike.
#
#   bash bench/chaincost.sh EVENTS RUNS COMMIT...    e.g. 2000000 3 e9a4050 da75753
#
# The name "unhashed" builds the working tree with the archive's leaf
# hashes and file roots left out (every leaf and root the zero hash): the
# same code but for the hashing chaining adds, the fairest baseline. Such
# an archive does not verify; it is only timed.
#
# The stream is the search workload (bench/indexeval -engine ndjson): every
# line is an audit event, so every line is hashed into its file's root; the
# worst case for chaining. Needs GNU time (/usr/bin/time).
#
# HTTP_SECONDS=N times `kansa serve` instead: bench/httpload's closed loop
# (8 connections, batches of 500 of its 424-byte events, 3 s warm-up, then
# N seconds) against each build in turn, printing the events acknowledged
# per second and how far the archive was behind the WAL when the load
# stopped, and the server's CPU seconds per event accepted (the whole
# run's). EVENTS is then unused:
#
#   HTTP_SECONDS=20 bash bench/chaincost.sh 0 4 unhashed
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/buildat.sh
events=${1:?usage: bash bench/chaincost.sh EVENTS RUNS COMMIT...}
runs=${2:?usage: bash bench/chaincost.sh EVENTS RUNS COMMIT...}
shift 2
work=${BENCH_DIR:-/tmp/kansa-chaincost}
mkdir -p "$work"
builds=()
for c in "$@"; do
	if [ "$c" = unhashed ]; then
		rm -rf "$work/src-$c"
		mkdir -p "$work/src-$c"
		git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t "$work/src-$c"
		w="$work/src-$c/internal/archive/writer.go"
		sed -i -e 's/^\treturn h.AppendLeaves(dst, data)$/\t_ = h; return dst[:cap(dst)] \/\/ unhashed/' \
			-e 's/roots\[i\] = merkle.RootParallel(f.leaves, runtime.GOMAXPROCS(0))/roots[i] = merkle.Hash{}; _ = f \/\/ unhashed/' "$w"
		[ "$(grep -c '// unhashed$' "$w")" -eq 2 ] || { echo "bench/chaincost.sh: the unhashed patch no longer applies to $w" >&2; exit 1; }
		(cd "$work/src-$c" && go build -o "$work/kansa-$c" ./cmd/kansa)
		rm -rf "$work/src-$c"
		builds+=("$c")
		continue
	fi
	build_at "$c" ./cmd/kansa "$work/kansa-$c"
	builds+=("$c")
done
go build -o "$work/kansa-head" ./cmd/kansa
builds+=(head)
if [ -n "${HTTP_SECONDS:-}" ]; then
	go build -o "$work/httpload" ./bench/httpload
	addr=127.0.0.1:${PORT:-7790}
	echo "HTTP ingest, ${HTTP_SECONDS}s per run; builds: ${builds[*]}; $(nproc) cores, $(date -u +%F)"
	for i in $(seq "$runs"); do
		for b in "${builds[@]}"; do
			rm -rf "$work/data" "$work/serve.out"
			sync
			"$work/kansa-$b" serve --data "$work/data" --listen "$addr" > "$work/serve.out" 2> "$work/serve-$b.log" &
			pid=$!
			until grep -q listening "$work/serve.out" 2>/dev/null; do sleep 0.05; done
			acked=$("$work/httpload" -url "http://$addr" -warmup 3s -duration "${HTTP_SECONDS}s" -mode throughput -conns 8 -batch 500 2>&1 | grep -E '^events acked' | head -1)
			metrics=$(curl -s "http://$addr/metrics")
			lag=$(awk '/^kansa_sink_lag_records/ { printf "%d", $2 }' <<< "$metrics")
			accepted=$(awk '/^kansa_accepted_total/ { printf "%d", $2 }' <<< "$metrics")
			# The server's CPU over the whole run (warm-up included), per
			# event it accepted: steadier than the rate, which the load
			# generator's share of the two cores moves.
			cpu=$(awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$pid/stat")
			kill -TERM "$pid"
			wait "$pid" || true
			printf 'run %d %-8s %s | archive behind by %s records | %s CPU s, %s accepted, %s µs/event\n' "$i" "$b" "$acked" "$lag" \
				"$cpu" "$accepted" "$(awk -v c="$cpu" -v n="$accepted" 'BEGIN { printf "%.3f", c * 1e6 / n }')"
		done
	done
	rm -rf "$work/data"
	exit 0
fi
input="$work/events-$events.ndjson"
[ -s "$input" ] || go run ./bench/indexeval -engine ndjson -n "$events" > "$input"
bytes=$(stat -c %s "$input")
echo "input: $events events, $bytes bytes; builds: ${builds[*]}; $(nproc) cores, $(date -u +%F)"
for i in $(seq "$runs"); do
	for b in "${builds[@]}"; do
		rm -rf "$work/data"
		sync
		cat "$input" > /dev/null
		/usr/bin/time -f "%e %U %S %M" -o "$work/t" "$work/kansa-$b" route --data "$work/data" < "$input" > /dev/null 2> "$work/route-$b.log"
		read -r wall user sys rss < "$work/t"
		awk -v n="$b" -v w="$wall" -v u="$user" -v s="$sys" -v e="$events" -v i="$i" \
			'BEGIN { printf "run %d %-8s %6.2f s  %8.0f events/s  %5.2f CPU s/M events\n", i, n, w, e/w, (u+s)/(e/1e6) }'
	done
done
rm -rf "$work/data"
