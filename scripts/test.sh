#!/usr/bin/env bash
# Runs every test kansa has, as CI does: gofmt over every Go file; then, in
# each Go module of the repository (the root module, the audit SDK, its
# adapters, the examples: every go.mod outside testdata), go vet and go test
# with the race detector; then the CGO_ENABLED=0 build of the collector.
# Installs what the tests need that a fresh machine lacks: tests that need a
# real PostgreSQL get a throwaway cluster on loopback (scripts/pg.sh, which
# installs Debian's postgresql-15 and pgaudit when missing), named by
# KANSA_TEST_PG and stopped when this script exits, pass or fail.
#
#   bash scripts/test.sh              # everything
#   bash scripts/test.sh -short       # unit tests only: no PostgreSQL, skips process-level tests
#   bash scripts/test.sh -run TestX   # arguments are passed to every go test
#
# A KANSA_TEST_PG already set is used as it is (start one cluster with
# eval "$(bash scripts/pg.sh start)" and run this as often as you like).
# A failing module does not stop the others; the summary at the end lists
# every failure and the exit status is 1 if there was one.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v go >/dev/null; then
	echo "scripts/test.sh: Go is required (https://go.dev/dl/); this machine has none on PATH" >&2
	exit 1
fi

# files PATTERN lists the repository's files matching PATTERN, tracked or
# new (not ignored), that exist in the work tree.
files() {
	local f
	{ git ls-files --cached --others --exclude-standard "$1" 2>/dev/null ||
		find . -path ./.git -prune -o -name "$1" -print | sed 's|^\./||'; } |
		LC_ALL=C sort -u | while IFS= read -r f; do
		[ -f "$f" ] && printf '%s\n' "$f"
	done
}

short=''
for a in "$@"; do
	case $a in -short | --short | -short=true | --short=true) short=1 ;; esac
done

failed=()
fail() {
	echo "FAILED: $*" >&2
	failed+=("$*")
}

echo "== gofmt"
mapfile -t gofiles < <(files '*.go')
if ! unformatted=$(gofmt -l "${gofiles[@]}" 2>&1) || [ -n "$unformatted" ]; then
	echo "gofmt would change (or cannot parse):" >&2
	echo "$unformatted" >&2
	fail "gofmt"
fi

# Every module: every go.mod but those under testdata (fixtures) or vendor.
# The root module first, then the others by path.
modules=()
while IFS= read -r m; do
	case /$m/ in */testdata/* | */vendor/*) continue ;; esac
	modules+=("$m")
done < <(files '*go.mod' | grep -E '(^|/)go\.mod$' | xargs -r -n1 dirname | LC_ALL=C sort -u)

if [ -n "$short" ]; then
	echo "== PostgreSQL: not started (-short)"
else
	if [ -n "${KANSA_TEST_PG:-}" ]; then
		echo "== PostgreSQL: KANSA_TEST_PG from the environment"
	else
		echo "== PostgreSQL (scripts/pg.sh)"
		# Made here, so that the trap knows it even if start is interrupted.
		# Under /tmp when root: the server runs as postgres, which must reach it.
		pgparent=${TMPDIR:-/tmp}
		[ "$(id -u)" = 0 ] && pgparent=/tmp
		pgdir=$(mktemp -d "$pgparent/kansa-pg.XXXXXX")
		trap 'rmdir "$pgdir" 2>/dev/null || bash scripts/pg.sh stop "$pgdir" || true' EXIT
		trap 'exit 130' INT
		trap 'exit 143' TERM
		pgenv=$(bash scripts/pg.sh start "$pgdir")
		eval "$pgenv"
		export KANSA_TEST_PG KANSA_TEST_PGDIR
	fi
fi

for m in "${modules[@]}"; do
	SECONDS=0
	name=$(cd "$m" && go list -m 2>/dev/null) || name='go list -m failed'
	echo "== module $m ($name)"
	echo "-- go vet"
	(cd "$m" && go vet ./...) || fail "$m: go vet"
	echo "-- go test -race"
	(cd "$m" && go test -race -count=1 -timeout 20m "$@" ./...) || fail "$m: go test"
	echo "-- $m: ${SECONDS}s"
done

echo "== CGO_ENABLED=0 build (static collector)"
CGO_ENABLED=0 go build -o /dev/null ./cmd/kansa || fail "CGO_ENABLED=0 go build ./cmd/kansa"

if [ ${#failed[@]} -gt 0 ]; then
	echo "== FAILED (${#failed[@]}):" >&2
	printf '   %s\n' "${failed[@]}" >&2
	exit 1
fi
echo "== all ${#modules[@]} modules: vet, tests and builds passed"
