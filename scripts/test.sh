#!/usr/bin/env bash
# Runs every test kansa has, as CI does. Installs what the tests need that a
# fresh machine lacks (today: nothing beyond Go; later stages add PostgreSQL
# and MinIO here), with the race detector on.
#
#   bash scripts/test.sh            # everything
#   bash scripts/test.sh -short     # unit tests only (skips process-level tests)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null; then
	echo "scripts/test.sh: Go is required (https://go.dev/dl/); this machine has none on PATH" >&2
	exit 1
fi

echo "== go vet"
go vet ./...

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:" >&2
	echo "$unformatted" >&2
	exit 1
fi

echo "== go test -race"
go test -race -count=1 -timeout 20m "$@" ./...

echo "== CGO_ENABLED=0 build (static collector)"
CGO_ENABLED=0 go build -o /dev/null ./cmd/kansa
