#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for tests that need a real
# server (KANSA_TEST_PG). Nothing outside its directory is touched: the data,
# the socket and the log all live there, and stop removes it.
#
#   eval "$(bash scripts/pg.sh start)"   # new cluster in a temp dir; sets KANSA_TEST_PG, KANSA_TEST_PGDIR
#   bash scripts/pg.sh start DIR         # ... in DIR (created, or empty)
#   bash scripts/pg.sh stop [DIR]        # stop it and remove DIR (default $KANSA_TEST_PGDIR); idempotent
#
# start prints only shell assignments on stdout; progress and errors go to
# stderr. The server listens on 127.0.0.1 on a free port, trusts every local
# connection (user postgres, no password), keeps fsync on, runs with
# wal_level=logical and loads pgaudit when it is installed. Its log is
# DIR/postgres.log. KANSA_PG_CONF adds lines to its postgresql.conf.
#
# Binaries: $KANSA_PG_BIN if set, else /usr/lib/postgresql/15/bin, else the
# initdb on PATH, else the newest /usr/lib/postgresql/*/bin. When PostgreSQL
# (or pgaudit) is missing and we are root with apt-get, Debian's
# postgresql-15 and postgresql-15-pgaudit are installed. As root, the server
# runs as the postgres user, since initdb refuses root.
set -euo pipefail

prog=scripts/pg.sh
marker=.kansa-pg # in every DIR this script made; stop removes only such a DIR

note() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

is_root() { [ "$(id -u)" = 0 ]; }

# sq quotes $1 for the shell: 'it'\''s'.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

apt_updated=''
apt_install() {
	if [ -z "$apt_updated" ]; then
		note "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 update >&2
		apt_updated=1
	fi
	note "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@" >&2
}

can_apt() { is_root && command -v apt-get >/dev/null; }

# find_bindir prints the directory holding initdb, pg_ctl and postgres.
find_bindir() {
	local d cands=()
	if [ -n "${KANSA_PG_BIN:-}" ]; then
		cands+=("$KANSA_PG_BIN")
	fi
	cands+=(/usr/lib/postgresql/15/bin)
	if d=$(command -v initdb 2>/dev/null); then
		cands+=("$(dirname "$(readlink -f "$d")")")
	fi
	# Newest major version first.
	while IFS= read -r d; do
		cands+=("$d")
	done < <(printf '%s\n' /usr/lib/postgresql/*/bin | sort -t/ -k5,5 -rn)
	for d in "${cands[@]}"; do
		if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	return 1
}

# install_postgres installs Debian's PostgreSQL 15 with pgaudit. Installing
# the package creates and starts a cluster "main" on port 5432; this script
# never uses it, so it is stopped and set to start manually.
install_postgres() {
	local had_main=
	[ -d /etc/postgresql/15/main ] && had_main=1
	apt_install postgresql-15 postgresql-15-pgaudit
	if [ -z "$had_main" ] && [ -d /etc/postgresql/15/main ]; then
		note "stopping the cluster 15/main that the Debian package started (it is not used)"
		pg_ctlcluster 15 main stop >&2 2>/dev/null || true
		echo manual >/etc/postgresql/15/main/start.conf || true
	fi
}

# pkglibdir prints the directory the server loads extension libraries from.
pkglibdir() {
	local bindir=$1 d
	if [ -x "$bindir/pg_config" ] && d=$("$bindir/pg_config" --pkglibdir 2>/dev/null) && [ -d "$d" ]; then
		printf '%s\n' "$d"
	else
		d=$(readlink -f "$bindir/postgres")
		printf '%s\n' "$(dirname "$(dirname "$d")")/lib"
	fi
}

# as_owner USER CMD... runs CMD as USER when we are root and USER is not
# root, else as ourselves, from / so that no unreadable cwd gets in the way.
as_owner() {
	local user=$1
	shift
	if is_root && [ "$user" != root ]; then
		command -v runuser >/dev/null || die "running as root needs runuser (util-linux) to run PostgreSQL as $user"
		(cd / && runuser -u "$user" -- "$@")
	else
		(cd / && "$@")
	fi
}

# shellcheck source=scripts/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

cmd_start() {
	local dir=${1:-} made_dir='' bindir libdir owner=$USER_NAME port preload='' log_off ok='' t0
	t0=$(date +%s%N)

	if [ -n "${KANSA_PG_BIN:-}" ] && [ ! -x "$KANSA_PG_BIN/initdb" ]; then
		die "KANSA_PG_BIN=$KANSA_PG_BIN has no initdb: set it to a PostgreSQL bin directory, or unset it"
	fi
	if ! bindir=$(find_bindir); then
		if can_apt; then
			install_postgres
			bindir=$(find_bindir) || die "installed postgresql-15, yet found no initdb in /usr/lib/postgresql/*/bin"
		else
			die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found. Install PostgreSQL 15 with pgaudit (Debian: apt-get install postgresql-15 postgresql-15-pgaudit), or set KANSA_PG_BIN to its bin directory"
		fi
	fi
	libdir=$(pkglibdir "$bindir")
	if [ ! -f "$libdir/pgaudit.so" ] && can_apt; then
		local major
		major=$("$bindir/postgres" --version | sed -n 's/.* \([0-9][0-9]*\)\.[0-9].*/\1/p')
		if [ -n "$major" ]; then
			apt_install "postgresql-$major-pgaudit" || note "could not install postgresql-$major-pgaudit; starting without pgaudit"
		fi
	fi
	if [ -f "$libdir/pgaudit.so" ]; then
		preload=pgaudit
	else
		note "pgaudit is not installed ($libdir/pgaudit.so): the server starts without it"
	fi

	if is_root; then
		owner=postgres
		id -u postgres >/dev/null 2>&1 || die "running as root, and there is no postgres user to run the server as (initdb refuses root): create one, or run as a normal user"
	fi

	if [ -z "$dir" ]; then
		local parent=${TMPDIR:-/tmp}
		if is_root && ! as_owner postgres test -x "$parent" 2>/dev/null; then
			parent=/tmp
		fi
		dir=$(mktemp -d "$parent/kansa-pg.XXXXXX") || die "cannot make a temp dir in $parent"
		made_dir=1
	else
		mkdir -p -- "$dir" || die "cannot make $dir"
		if [ -n "$(ls -A -- "$dir")" ]; then
			die "$dir is not empty: give a new or empty directory"
		fi
	fi
	dir=$(cd -- "$dir" && pwd -P)
	# The server's socket is DIR/.s.PGSQL.PORT; a Unix socket path has at most 107 bytes.
	if [ $((${#dir} + 17)) -gt 107 ]; then
		[ -n "$made_dir" ] && rm -rf -- "$dir"
		die "$dir is too long a path for the server's Unix socket (at most 90 characters): use a shorter one"
	fi
	printf 'bindir=%s\n' "$bindir" >"$dir/$marker"

	# From here a failure stops what was started and removes what was made.
	start_dir=$dir start_made_dir=$made_dir
	trap start_failed EXIT

	if is_root; then
		chown -R postgres: -- "$dir"
		as_owner postgres test -w "$dir" ||
			die "the postgres user cannot write to $dir (is a parent directory closed to it?): use a directory under /tmp"
	fi

	if ! as_owner "$owner" "$bindir/initdb" -D "$dir/data" -U postgres -A trust \
		--encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		cat "$dir/initdb.log" >&2
		die "initdb failed (output above)"
	fi
	# fsync and synchronous_commit keep their defaults (on): tests measure durability.
	cat >>"$dir/data/postgresql.conf" <<-EOF

		# scripts/pg.sh
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir'
		max_connections = 100
		shared_buffers = 64MB
		wal_level = logical
		max_replication_slots = 8
		max_wal_senders = 8
		timezone = 'UTC'
		log_timezone = 'UTC'
		shared_preload_libraries = '$preload'
		include 'port.conf'
	EOF
	# KANSA_PG_CONF: more settings for this cluster (a test's own logging, say).
	if [ -n "${KANSA_PG_CONF:-}" ]; then
		printf '%s\n' "$KANSA_PG_CONF" >>"$dir/data/postgresql.conf"
	fi

	# A port found free may be taken before the server binds it (another
	# cluster starting at the same moment): then try another.
	for _ in 1 2 3 4 5; do
		port=$(free_port) || die "found no free TCP port on 127.0.0.1 in 15000-32767"
		printf 'port = %s\n' "$port" >"$dir/data/port.conf"
		[ -f "$dir/postgres.log" ] && log_off=$(stat -c %s "$dir/postgres.log") || log_off=0
		if as_owner "$owner" "$bindir/pg_ctl" start -s -w -t 60 -D "$dir/data" -l "$dir/postgres.log" >"$dir/pg_ctl.log" 2>&1; then
			ok=1
			break
		fi
		if tail -c +"$((log_off + 1))" "$dir/postgres.log" 2>/dev/null | grep -q 'could not bind\|already in use'; then
			note "port $port was taken meanwhile; trying another"
			continue
		fi
		break
	done
	if [ -z "$ok" ]; then
		cat "$dir/pg_ctl.log" >&2
		tail -n 30 "$dir/postgres.log" >&2 2>/dev/null || true
		die "the server did not start (pg_ctl output and the end of $dir/postgres.log above)"
	fi
	if [ -x "$bindir/pg_isready" ] && ! "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -t 10; then
		die "the server started but does not answer on 127.0.0.1:$port (see $dir/postgres.log)"
	fi
	printf 'port=%s\n' "$port" >>"$dir/$marker"
	trap - EXIT

	note "PostgreSQL $("$bindir/postgres" --version | sed 's/.*) //') on 127.0.0.1:$port, dir $dir${preload:+, pgaudit loaded} ($((($(date +%s%N) - t0) / 1000000)) ms)"
	exports="export KANSA_TEST_PG=$(sq "postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"); export KANSA_TEST_PGDIR=$(sq "$dir")"
}

# start_failed runs on a failed start: stop the server if it runs, and
# remove the directory if this script made it (a DIR given by the caller
# stays, marked, for the caller's stop).
start_dir='' start_made_dir=''
start_failed() {
	trap - EXIT
	[ -n "$start_dir" ] || return 0
	stop_server "$start_dir" || true
	if [ -n "$start_made_dir" ]; then
		rm -rf -- "$start_dir"
	fi
}

# stop_server DIR stops the server whose data is DIR/data, if it runs.
stop_server() {
	local dir=$1 bindir='' owner line
	[ -f "$dir/data/postmaster.pid" ] || return 0
	while IFS= read -r line; do
		case $line in bindir=*) bindir=${line#bindir=} ;; esac
	done <"$dir/$marker"
	if [ -z "$bindir" ] || [ ! -x "$bindir/pg_ctl" ]; then
		bindir=$(find_bindir) || die "cannot stop the server in $dir: no pg_ctl found"
	fi
	owner=$(stat -c %U -- "$dir/data")
	local rc=0
	as_owner "$owner" "$bindir/pg_ctl" status -D "$dir/data" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 0 ] || return 0 # 3: not running (a stale pid file after a crash)
	if ! as_owner "$owner" "$bindir/pg_ctl" stop -s -D "$dir/data" -m fast -w -t 60 >&2; then
		note "fast shutdown failed; shutting down immediately"
		as_owner "$owner" "$bindir/pg_ctl" stop -s -D "$dir/data" -m immediate -w -t 30 >&2 || {
			local pid
			read -r pid <"$dir/data/postmaster.pid" || true
			if [ -n "${pid:-}" ]; then kill -KILL "$pid" 2>/dev/null || true; fi
			return 1
		}
	fi
}

cmd_stop() {
	local dir=${1:-${KANSA_TEST_PGDIR:-}} t0
	t0=$(date +%s%N)
	[ -n "$dir" ] || die "stop: which cluster? Pass its DIR or set KANSA_TEST_PGDIR"
	if [ ! -e "$dir" ]; then
		note "$dir does not exist: nothing to stop"
		return 0
	fi
	[ -f "$dir/$marker" ] || die "$dir was not made by $prog start (no $marker in it): not touching it"
	stop_server "$dir" || note "the server in $dir did not stop cleanly; removing its directory anyway"
	rm -rf -- "$dir"
	note "stopped and removed $dir ($((($(date +%s%N) - t0) / 1000000)) ms)"
}

USER_NAME=$(id -un 2>/dev/null || id -u)
exports=
case ${1:-} in
start)
	shift
	[ $# -le 1 ] || die "usage: $prog start [DIR]"
	# Everything but the assignments goes to stderr, and nothing started here
	# keeps stdout open: "$(...)" around this script returns when it exits.
	{ cmd_start "$@"; } >&2
	printf '%s\n' "$exports"
	;;
stop)
	shift
	[ $# -le 1 ] || die "usage: $prog stop [DIR]"
	{ cmd_stop "$@"; } >&2
	;;
*)
	die "usage: $prog start [DIR] | stop [DIR]"
	;;
esac
