#!/usr/bin/env bash
# The CloudTrail queue input's throughput: FILES gzipped CloudTrail files of
# RECORDS records each in a MinIO bucket (scripts/minio.sh), one
# notification each waiting on a goaws queue (scripts/goaws.sh); kansa serve
# starts with inputs.cloudtrail on that queue and is timed until every
# record is accepted (durable in its WAL). Baseline in the same run: kansa
# import --format cloudtrail of the same files from a local folder.
#
#   bash bench/cloudtrail.sh [FILES] [RECORDS] [FETCHERS...]   (defaults 200, 1000, 4)
#
# With LATENCY=30ms, kansa reads S3 through bench/latproxy, which holds
# every request that long, as a remote S3 would; give several FETCHERS
# (e.g. 1 4) to compare them in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-200}
records=${2:-1000}
shift 2 2>/dev/null || shift $#
fetchers=("${@:-4}")
[ ${#fetchers[@]} -gt 0 ] || fetchers=(4)
total=$((files * records))
work=${BENCH_DIR:-/tmp/kansa-bench-cloudtrail}
rm -rf "$work" && mkdir -p "$work"
go build -o "$work/kansa" ./cmd/kansa
go build -o "$work/ctload" ./bench/ctload
go build -o "$work/latproxy" ./bench/latproxy
goaws=$(bash scripts/goaws.sh install)
eval "$(bash scripts/minio.sh start)"
cat > "$work/goaws.yaml" <<YAML
Local:
  Host: 127.0.0.1
  Port: 17942
  Region: us-east-1
  AccountId: "100010001000"
  QueueAttributeDefaults:
    VisibilityTimeout: 300
  Queues:
    - Name: trail
YAML
"$goaws" -config "$work/goaws.yaml" Local > "$work/goaws.log" 2>&1 &
echo $! > "$work/goaws.pid"
s3=$KANSA_TEST_S3_ENDPOINT
if [ -n "${LATENCY:-}" ]; then
	"$work/latproxy" -listen 127.0.0.1:17943 -to "$KANSA_TEST_S3_ENDPOINT" -delay "$LATENCY" 2> "$work/latproxy.log" &
	echo $! > "$work/latproxy.pid"
	s3=http://127.0.0.1:17943
fi
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; bash scripts/minio.sh stop "$KANSA_TEST_MINIODIR"' EXIT
until curl -sf -d Action=ListQueues 127.0.0.1:17942/ > /dev/null; do sleep 0.1; done
queue=http://127.0.0.1:17942/100010001000/trail
"$work/ctload" -endpoint "$KANSA_TEST_S3_ENDPOINT" -bucket trail -dir "$work/files" -files "$files" -records "$records"

echo "CloudTrail: $files files of $records records, S3 latency ${LATENCY:-none} ($(nproc) cores, $(date -u +%F))"
start=$(date +%s.%N)
"$work/kansa" import --data "$work/import" --format cloudtrail "$work/files" > /dev/null
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$total" 'BEGIN { printf "import from a folder (baseline): %.2f s, %.0f records/s (until archived)\n", e - s, n / (e - s) }'

accepted() { curl -s 127.0.0.1:17941/metrics | awk '/^kansa_accepted_total/ {print $2}'; }
for f in "${fetchers[@]}"; do
	"$work/ctload" -upload=false -endpoint "$KANSA_TEST_S3_ENDPOINT" -bucket trail -queue "$queue" -files "$files" -records "$records" > /dev/null
	cat > "$work/kansa.yaml" <<YAML
inputs:
  cloudtrail:
    - name: bench
      queue_url: $queue
      endpoint: $s3
      wait: 1s
      fetchers: $f
YAML
	rm -rf "$work/data"
	start=$(date +%s.%N)
	"$work/kansa" serve --data "$work/data" --config "$work/kansa.yaml" --listen 127.0.0.1:17941 > "$work/serve.out" 2> "$work/serve.log" &
	echo $! > "$work/serve.pid"
	until [ "$(accepted)" -ge "$total" ] 2>/dev/null; do sleep 0.05; done
	end=$(date +%s.%N)
	awk -v s="$start" -v e="$end" -v n="$total" -v f="$f" 'BEGIN { printf "SQS queue input, fetchers %d: %.2f s, %.0f records/s (until durable in the WAL)\n", f, e - s, n / (e - s) }'
	kill "$(cat "$work/serve.pid")"
	while kill -0 "$(cat "$work/serve.pid")" 2>/dev/null; do sleep 0.05; done
	rm -f "$work/serve.pid"
done
