#!/usr/bin/env bash
# Runs every test kansa has, as CI does: gofmt over every Go file; then, in
# each Go module of the repository (the root module, the audit SDK, its
# adapters, the examples: every go.mod outside testdata), go vet and go test
# with the race detector; then the CGO_ENABLED=0 build of the collector.
# Installs what the tests need that a fresh machine lacks, and starts it on
# loopback; both are stopped when this script exits, pass or fail:
# - tests that need a real PostgreSQL get a throwaway cluster (scripts/pg.sh,
#   which installs Debian's postgresql-15 and pgaudit when missing), named by
#   KANSA_TEST_PG;
# - tests that need S3 get a throwaway MinIO (scripts/minio.sh, which builds
#   MinIO into ${XDG_CACHE_HOME:-~/.cache}/kansa/bin when missing: about four
#   minutes, once; CI keeps that directory), named by KANSA_TEST_S3_ENDPOINT
#   with its credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY;
# - Debian's libdeflate0, which kansa uses when present (internal/gunzip),
#   so that its tests compare libdeflate's inflate with Go's;
# - the CloudTrail input's tests start their own SQS and SNS server, goaws
#   (scripts/goaws.sh builds it into the same cache directory, once),
#   named by KANSA_GOAWS_BIN.
#
#   bash scripts/test.sh              # everything
#   bash scripts/test.sh -short       # unit tests only: no PostgreSQL or MinIO, skips process-level tests
#   bash scripts/test.sh -run TestX   # arguments are passed to every go test
#
# A KANSA_TEST_PG or KANSA_TEST_S3_ENDPOINT already set is used as it is
# (start one with eval "$(bash scripts/pg.sh start)" or
# eval "$(bash scripts/minio.sh start)" and run this as often as you like).
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

# kansa inflates through libdeflate's shared library when it is installed
# (internal/gunzip) and through Go's otherwise; the tests compare the two,
# so install it where Debian's packages can be.
if ! ldconfig -p 2>/dev/null | grep -q 'libdeflate\.so\.0' && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "== apt-get install libdeflate0"
	{ DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends libdeflate0 ||
		{ apt-get -qq -o DPkg::Lock::Timeout=300 update &&
			DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends libdeflate0; }; } >&2 ||
		echo "libdeflate0 did not install: only Go's inflate is tested" >&2
fi

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

# The servers' directories are made here, so that the trap knows them even
# if a start is interrupted; a directory still empty was never started in.
pgdir='' miniodir=''
stop_servers() {
	if [ -n "$pgdir" ]; then
		rmdir "$pgdir" 2>/dev/null || bash scripts/pg.sh stop "$pgdir" || true
	fi
	if [ -n "$miniodir" ]; then
		rmdir "$miniodir" 2>/dev/null || bash scripts/minio.sh stop "$miniodir" || true
	fi
}
trap stop_servers EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "$short" ]; then
	echo "== PostgreSQL, MinIO and goaws: not started (-short)"
else
	if [ -n "${KANSA_TEST_PG:-}" ]; then
		echo "== PostgreSQL: KANSA_TEST_PG from the environment"
	else
		echo "== PostgreSQL (scripts/pg.sh)"
		# Under /tmp when root: the server runs as postgres, which must reach it.
		pgparent=${TMPDIR:-/tmp}
		[ "$(id -u)" = 0 ] && pgparent=/tmp
		pgdir=$(mktemp -d "$pgparent/kansa-pg.XXXXXX")
		pgenv=$(bash scripts/pg.sh start "$pgdir")
		eval "$pgenv"
		export KANSA_TEST_PG KANSA_TEST_PGDIR
	fi
	if [ -n "${KANSA_TEST_S3_ENDPOINT:-}" ]; then
		echo "== MinIO: KANSA_TEST_S3_ENDPOINT from the environment"
	else
		echo "== MinIO (scripts/minio.sh)"
		miniodir=$(mktemp -d "${TMPDIR:-/tmp}/kansa-minio.XXXXXX")
		minioenv=$(bash scripts/minio.sh start "$miniodir")
		eval "$minioenv"
		export KANSA_TEST_S3_ENDPOINT AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_REGION KANSA_TEST_S3_KMS_KEY KANSA_TEST_MINIODIR
	fi
	echo "== goaws (scripts/goaws.sh)"
	KANSA_GOAWS_BIN=$(bash scripts/goaws.sh install)
	export KANSA_GOAWS_BIN
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
