#!/usr/bin/env bash
# The CloudTrail queue input's throughput: FILES gzipped CloudTrail files of
# RECORDS records each in a MinIO bucket (scripts/minio.sh), one
# notification each waiting on a goaws queue (scripts/goaws.sh); kansa serve
# starts with inputs.cloudtrail on that queue and is timed until every
# record is accepted (durable in its WAL). Baseline in the same run: kansa
# import --format cloudtrail of the same files from a local folder.
#
#   bash bench/cloudtrail.sh [FILES] [RECORDS]    (defaults 200 and 1000)
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-200}
records=${2:-1000}
total=$((files * records))
work=${BENCH_DIR:-/tmp/kansa-bench-cloudtrail}
rm -rf "$work" && mkdir -p "$work"
go build -o "$work/kansa" ./cmd/kansa
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
trap 'kill $(cat "$work/pid" "$work/goaws.pid" 2>/dev/null) 2>/dev/null || true; bash scripts/minio.sh stop "$KANSA_TEST_MINIODIR"' EXIT
until curl -sf -d Action=ListQueues 127.0.0.1:17942/ > /dev/null; do sleep 0.1; done
queue=http://127.0.0.1:17942/100010001000/trail
go run ./bench/ctload -endpoint "$KANSA_TEST_S3_ENDPOINT" -bucket trail -queue "$queue" -dir "$work/files" -files "$files" -records "$records"

echo "CloudTrail: $files files of $records records ($(nproc) cores, $(date -u +%F))"
start=$(date +%s.%N)
"$work/kansa" import --data "$work/import" --format cloudtrail "$work/files" > /dev/null
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$total" 'BEGIN { printf "import from a folder (baseline): %.2f s, %.0f records/s (until archived)\n", e - s, n / (e - s) }'

cat > "$work/kansa.yaml" <<YAML
inputs:
  cloudtrail:
    - name: bench
      queue_url: $queue
      endpoint: $KANSA_TEST_S3_ENDPOINT
      wait: 1s
YAML
accepted() { curl -s 127.0.0.1:17941/metrics | awk '/^kansa_accepted_total/ {print $2}'; }
start=$(date +%s.%N)
"$work/kansa" serve --data "$work/data" --config "$work/kansa.yaml" --listen 127.0.0.1:17941 > "$work/serve.out" 2> "$work/serve.log" &
echo $! > "$work/pid"
until [ "$(accepted)" -ge "$total" ] 2>/dev/null; do sleep 0.05; done
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" -v n="$total" 'BEGIN { printf "SQS queue input: %.2f s, %.0f records/s (until durable in the WAL)\n", e - s, n / (e - s) }'
