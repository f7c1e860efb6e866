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
chmod 755 "$state" # PostgreSQL runs as its own user when we are root
export KANSA_LISTEN=${KANSA_LISTEN:-127.0.0.1:7700}
export SHOP_LISTEN=${SHOP_LISTEN:-127.0.0.1:8080}

kansa_pid='' shop_pid=''
cleanup() {
	# The shop first: it delivers its last events while kansa still runs.
	for p in $shop_pid $kansa_pid; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	bash "$root/scripts/pg.sh" stop "$state/pg" >/dev/null 2>&1 || true
	[ -n "${SHOP_STATE:-}" ] || rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# waitfor FILE TEXT PID: until the process has printed TEXT, or has died.
waitfor() {
	until grep -q "$2" "$1" 2>/dev/null; do
		if ! kill -0 "$3" 2>/dev/null; then
			echo "run.sh: it stopped before it was ready:" >&2
			cat "$1" >&2
			exit 1
		fi
		sleep 0.1
	done
}

echo "state in $state" >&2
pgenv=$(bash "$root/scripts/pg.sh" start "$state/pg") || exit 1
eval "$pgenv"

(cd "$root" && go build -o "$state/kansa" ./cmd/kansa)
(cd "$here" && go build -o "$state/shop" .)

# kansa in its own session: Ctrl-C reaches the shop, and this script stops
# kansa after the shop has delivered.
setsid "$state/kansa" serve --data "$state/kansa-data" --listen "$KANSA_LISTEN" >"$state/kansa.out" 2>&1 &
kansa_pid=$!
waitfor "$state/kansa.out" "listening" "$kansa_pid"

# The shop's output to the terminal and to a file; through fd 3 so that $!
# is the shop's own pid, not tee's.
exec 3> >(tee "$state/shop.out")
DATABASE_URL=$KANSA_TEST_PG KANSA_URL="http://$KANSA_LISTEN" SHOP_SPOOL="$state/audit-spool" \
	"$state/shop" >&3 2>&3 &
shop_pid=$!
waitfor "$state/shop.out" "shop listening" "$shop_pid"

cat >&2 <<MSG

The shop is on http://$SHOP_LISTEN and kansa on http://$KANSA_LISTEN.
Search the audit log with:
  $state/kansa search --data $state/kansa-data target_type:Product
Stop kansa alone (the shop keeps its events in its spool):
  kill $kansa_pid
and start it again:
  $state/kansa serve --data $state/kansa-data --listen $KANSA_LISTEN
Ctrl-C stops everything.
MSG
wait "$shop_pid"
