#!/usr/bin/env bash
# Runs the shop with everything it needs, on loopback, until Ctrl-C:
# a throwaway PostgreSQL (scripts/pg.sh), kansa serve, and the shop.
#
#   bash examples/shop/run.sh
#
# Ports: kansa on $KANSA_LISTEN (127.0.0.1:7700), the shop on $SHOP_LISTEN
# (127.0.0.1:8080). State goes to a temp dir, printed at start and removed
# at exit, unless $SHOP_STATE names a dir to keep.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
state=${SHOP_STATE:-$(mktemp -d -t kansa-shop-XXXXXX)}
mkdir -p "$state"
export KANSA_LISTEN=${KANSA_LISTEN:-127.0.0.1:7700}
export SHOP_LISTEN=${SHOP_LISTEN:-127.0.0.1:8080}

pids=()
cleanup() {
	# Newest first: the shop delivers its last events while kansa still runs.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		kill -TERM "${pids[i]}" 2>/dev/null || true
		wait "${pids[i]}" 2>/dev/null || true
	done
	bash "$root/scripts/pg.sh" stop "$state/pg" >/dev/null 2>&1 || true
	[ -n "${SHOP_STATE:-}" ] || rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "state in $state" >&2
eval "$(bash "$root/scripts/pg.sh" start "$state/pg")"

(cd "$root" && go build -o "$state/kansa" ./cmd/kansa)
(cd "$here" && go build -o "$state/shop" .)

"$state/kansa" serve --data "$state/kansa-data" --listen "$KANSA_LISTEN" &
pids+=($!)

DATABASE_URL=$KANSA_TEST_PG KANSA_URL="http://$KANSA_LISTEN" SHOP_SPOOL="$state/audit-spool" \
	"$state/shop" &
pids+=($!)

cat >&2 <<MSG

The shop is on http://$SHOP_LISTEN and kansa on http://$KANSA_LISTEN.
Search the audit log with:
  $state/kansa search --data $state/kansa-data target_type:Product
Ctrl-C stops everything.
MSG
wait -n "${pids[@]}"
