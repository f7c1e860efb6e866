#!/usr/bin/env bash
# The SQS-compatible server the CloudTrail input's tests run: goaws
# (github.com/Admiral-Piett/goaws, MIT), which speaks SQS's and SNS's query
# protocols and delivers SNS messages to subscribed queues (wrapped as SNS
# wraps them). Unlike SQS, it ignores a receive's VisibilityTimeout (the
# queue's applies) and reports every ApproximateReceiveCount as 1, so the
# tests give up messages on kansa's own count of receives. Each test starts
# its own on a free port of its own config.
#
#   bash scripts/goaws.sh install   # prints the binary's path, building it once
#
# The binary is $KANSA_GOAWS_BIN, else ${XDG_CACHE_HOME:-~/.cache}/kansa/bin/goaws,
# built there with go install (about 30 s, once; CI keeps that directory).
set -euo pipefail

version=v0.4.5
bin=${XDG_CACHE_HOME:-$HOME/.cache}/kansa/bin

die() {
	printf 'scripts/goaws.sh: %s\n' "$*" >&2
	exit 1
}

[ "${1:-}" = install ] || die "usage: bash scripts/goaws.sh install"
if [ -n "${KANSA_GOAWS_BIN:-}" ]; then
	printf '%s\n' "$KANSA_GOAWS_BIN"
	exit 0
fi
if [ -x "$bin/goaws-$version" ]; then
	printf '%s\n' "$bin/goaws-$version"
	exit 0
fi
command -v go >/dev/null || die "Go is required to build goaws"
mkdir -p -- "$bin"
exec 9>"$bin/.goaws-install.lock"
command -v flock >/dev/null && flock 9
if [ ! -x "$bin/goaws-$version" ]; then
	printf 'scripts/goaws.sh: building goaws %s into %s (once)\n' "$version" "$bin" >&2
	tmp=$(mktemp -d)
	trap 'rm -rf -- "$tmp"' EXIT
	# The module's main package is app/cmd: go install names it "cmd".
	GOBIN=$tmp go install "github.com/Admiral-Piett/goaws/app/cmd@$version" >&2 ||
		die "go install github.com/Admiral-Piett/goaws/app/cmd@$version failed (output above)"
	mv -- "$tmp/cmd" "$bin/goaws-$version"
fi
printf '%s\n' "$bin/goaws-$version"
