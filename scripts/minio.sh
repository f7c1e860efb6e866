#!/usr/bin/env bash
# Starts and stops a throwaway MinIO server on loopback for tests: the S3
# server that kansa's S3 archive tests run against.
#
#   eval "$(bash scripts/minio.sh start)"   # sets KANSA_TEST_S3_ENDPOINT, AWS_*, KANSA_TEST_MINIODIR …
#   bash scripts/minio.sh start DIR         # in DIR (new or empty), kept until stop
#   bash scripts/minio.sh pause [DIR]       # stops the server, keeps its data and port
#   bash scripts/minio.sh resume [DIR]      # starts it again on the same port, same data
#   bash scripts/minio.sh stop [DIR]        # stops it and removes DIR (default: KANSA_TEST_MINIODIR)
#
# start runs `minio server DIR/data` on a free port of 127.0.0.1 (the web
# console on another), with a root user kansa-test and a random password,
# and with MinIO's built-in KMS (one static key, named by
# KANSA_TEST_S3_KMS_KEY) so that SSE-S3 and SSE-KMS work. It waits until /minio/health/live answers, then
# prints shell assignments on stdout (and nothing else there):
#
#   export KANSA_TEST_S3_ENDPOINT='http://127.0.0.1:PORT'; export AWS_ACCESS_KEY_ID=…;
#   export AWS_SECRET_ACCESS_KEY=…; export AWS_REGION=us-east-1;
#   export KANSA_TEST_S3_KMS_KEY=kansa-test-key; export KANSA_TEST_MINIODIR=…
#
# pause and resume are for outage tests: pause kills the server (clients get
# "connection refused"), resume starts it again with the same port,
# credentials, KMS key and objects, and prints the assignments again. Such a
# test starts its own server (start DIR) rather than pausing the one the
# whole test run shares.
#
# The server binary is $KANSA_MINIO_BIN, else ${XDG_CACHE_HOME:-~/.cache}/kansa/bin/minio,
# else minio on PATH. When there is none, it is built into that cache
# directory with `go install github.com/minio/minio@latest` (about four
# minutes, once; CI keeps the cache directory between runs).
set -euo pipefail

prog=scripts/minio.sh
marker=.kansa-minio # in every DIR this script made; stop removes only such a DIR
user=kansa-test
region=us-east-1
kms_key_name=kansa-test-key # MinIO's one static KMS key, for SSE-KMS

note() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

# sq quotes $1 for the shell: 'it'\''s'.
sq() { printf "'%s'" "${1//\'/\'\\\'\'}"; }

ms_since() { printf '%s' "$((($(date +%s%N) - $1) / 1000000))"; }

cache_bin() { printf '%s\n' "${XDG_CACHE_HOME:-$HOME/.cache}/kansa/bin"; }

# find_minio prints the path of the MinIO server binary.
find_minio() {
	local p
	if [ -n "${KANSA_MINIO_BIN:-}" ]; then
		printf '%s\n' "$KANSA_MINIO_BIN"
		return 0
	fi
	p="$(cache_bin)/minio"
	if [ -f "$p" ] && [ -x "$p" ]; then
		printf '%s\n' "$p"
		return 0
	fi
	if p=$(command -v minio 2>/dev/null); then
		printf '%s\n' "$p"
		return 0
	fi
	return 1
}

# install_minio builds MinIO into the cache directory. A lock file there
# makes a second script wait for the first one's build instead of starting
# its own.
install_minio() {
	local bin
	bin=$(cache_bin)
	command -v go >/dev/null || die "MinIO is not installed and Go is not on PATH to build it: install MinIO (https://min.io/download) and set KANSA_MINIO_BIN, or install Go"
	mkdir -p -- "$bin" || die "cannot make $bin"
	exec 9>"$bin/.minio-install.lock"
	if command -v flock >/dev/null; then
		flock 9
	fi
	if [ -x "$bin/minio" ]; then
		exec 9>&-
		return 0 # another run built it while we waited
	fi
	note "MinIO not found: installing it with go install github.com/minio/minio@latest into $bin (takes about 4 minutes, once; keep $bin between CI runs)"
	local t0
	t0=$(date +%s%N)
	GOBIN=$bin go install github.com/minio/minio@latest >&2 ||
		die "go install github.com/minio/minio@latest failed (output above): install MinIO by hand and set KANSA_MINIO_BIN"
	exec 9>&-
	note "installed $bin/minio ($(ms_since "$t0") ms)"
}

# shellcheck source=scripts/ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"

# http_status PORT PATH prints the HTTP status code of GET PATH on
# 127.0.0.1:PORT, or nothing when nothing answers.
http_status() {
	local line=''
	{
		exec 3<>"/dev/tcp/127.0.0.1/$1" || return 0
		printf 'GET %s HTTP/1.1\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
		IFS= read -r -t 5 line <&3 || true
		exec 3<&-
	} 2>/dev/null
	line=${line#HTTP/* }
	printf '%s' "${line%% *}"
}

# random_secret N prints N random characters from [A-Za-z0-9].
random_secret() {
	local s=''
	while [ "${#s}" -lt "$1" ]; do
		s+=$(head -c 64 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
	done
	printf '%s' "${s:0:$1}"
}

# state DIR KEY prints KEY's value from DIR's marker file.
state() {
	local line
	while IFS= read -r line; do
		case $line in "$2="*)
			printf '%s' "${line#"$2="}"
			return 0
			;;
		esac
	done <"$1/$marker"
	return 1
}

# server_pid DIR prints the pid of DIR's server if it runs (and is ours:
# its command line names DIR/data).
server_pid() {
	local pid
	[ -f "$1/minio.pid" ] || return 1
	read -r pid <"$1/minio.pid" || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
	if [ -r "/proc/$pid/cmdline" ]; then
		tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$1/data" || return 1
	fi
	printf '%s\n' "$pid"
}

# launch DIR PORT CONSOLE_PORT starts the server in the background and
# waits until it answers on PORT. It returns 2 when the port was taken
# meanwhile, 1 on any other failure.
launch() {
	local dir=$1 port=$2 cport=$3 bin pid code i off=0
	bin=$(state "$dir" bin)
	[ -f "$dir/minio.log" ] && off=$(stat -c %s "$dir/minio.log")
	# The server's stdin, stdout and stderr are files or /dev/null, so a
	# "$(...)" around this script returns when it exits. setsid keeps the
	# shell's Ctrl-C away from it: stop ends it.
	(
		cd "$dir"
		export MINIO_ROOT_USER=$user
		MINIO_ROOT_PASSWORD=$(state "$dir" password)
		MINIO_KMS_SECRET_KEY=$(state "$dir" kms_key)
		export MINIO_ROOT_PASSWORD MINIO_KMS_SECRET_KEY
		export MINIO_SITE_REGION=$region MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off
		exec setsid "$bin" server "$dir/data" --address "127.0.0.1:$port" \
			--console-address "127.0.0.1:$cport" --certs-dir "$dir/certs" --quiet --anonymous \
			</dev/null >>"$dir/minio.log" 2>&1
	) &
	pid=$!
	printf '%s\n' "$pid" >"$dir/minio.pid"
	for i in $(seq 1 600); do # 60 s
		if ! kill -0 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			if tail -c +"$((off + 1))" "$dir/minio.log" | grep -qi 'address already in use\|bind:'; then
				return 2
			fi
			tail -n 30 "$dir/minio.log" >&2
			note "the server exited (the end of $dir/minio.log above)"
			return 1
		fi
		code=$(http_status "$port" /minio/health/live)
		[ "$code" = 200 ] && return 0
		sleep 0.1
	done
	tail -n 30 "$dir/minio.log" >&2
	note "the server did not answer on 127.0.0.1:$port/minio/health/live within 60 s (the end of $dir/minio.log above)"
	return 1
}

# kill_server DIR stops DIR's server if it runs: TERM, then KILL after 10 s.
kill_server() {
	local pid i
	pid=$(server_pid "$1") || {
		rm -f -- "$1/minio.pid"
		return 0
	}
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		note "the server (pid $pid) did not stop within 10 s; killing it"
		kill -KILL "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f -- "$1/minio.pid"
}

set_exports() {
	local dir=$1
	exports="export KANSA_TEST_S3_ENDPOINT=$(sq "http://127.0.0.1:$(state "$dir" port)"); export AWS_ACCESS_KEY_ID=$(sq "$user"); export AWS_SECRET_ACCESS_KEY=$(sq "$(state "$dir" password)"); export AWS_REGION=$(sq "$region"); export KANSA_TEST_S3_KMS_KEY=$(sq "$kms_key_name"); export KANSA_TEST_MINIODIR=$(sq "$dir")"
}

cmd_start() {
	local dir=${1:-} made_dir='' bin port cport rc ok='' t0
	t0=$(date +%s%N)

	if [ -n "${KANSA_MINIO_BIN:-}" ] && { [ ! -f "$KANSA_MINIO_BIN" ] || [ ! -x "$KANSA_MINIO_BIN" ]; }; then
		die "KANSA_MINIO_BIN=$KANSA_MINIO_BIN is not an executable file: set it to a MinIO server binary, or unset it"
	fi
	if ! bin=$(find_minio); then
		install_minio
		bin=$(find_minio) || die "installed MinIO, yet found no $(cache_bin)/minio"
	fi

	if [ -z "$dir" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/kansa-minio.XXXXXX") || die "cannot make a temp dir in ${TMPDIR:-/tmp}"
		made_dir=1
	else
		mkdir -p -- "$dir" || die "cannot make $dir"
		if [ -n "$(ls -A -- "$dir")" ]; then
			die "$dir is not empty: give a new or empty directory"
		fi
	fi
	dir=$(cd -- "$dir" && pwd -P)
	(
		umask 077
		printf 'bin=%s\npassword=%s\nkms_key=%s:%s\n' "$bin" "$(random_secret 24)" "$kms_key_name" \
			"$(head -c 32 /dev/urandom | base64 | tr -d '\n')" >"$dir/$marker"
	)
	mkdir -p -- "$dir/data" "$dir/certs"

	# From here a failure stops what was started and removes what was made.
	start_dir=$dir start_made_dir=$made_dir
	trap start_failed EXIT

	# A port found free may be taken before the server binds it: then try others.
	for _ in 1 2 3 4 5; do
		port=$(free_port) || die "found no free TCP port on 127.0.0.1 in 15000-32767"
		cport=$(free_port "$port") || die "found no free TCP port on 127.0.0.1 in 15000-32767"
		rc=0
		launch "$dir" "$port" "$cport" || rc=$?
		if [ "$rc" = 0 ]; then
			ok=1
			break
		fi
		[ "$rc" = 2 ] || break
		note "port $port or $cport was taken meanwhile; trying others"
	done
	[ -n "$ok" ] || die "the server did not start"
	printf 'port=%s\nconsole_port=%s\n' "$port" "$cport" >>"$dir/$marker"
	trap - EXIT

	note "MinIO on 127.0.0.1:$port (console :$cport), dir $dir ($(ms_since "$t0") ms)"
	set_exports "$dir"
}

# start_failed runs on a failed start: stop the server if it runs, and
# remove the directory if this script made it (a DIR given by the caller
# stays, marked, for the caller's stop).
start_dir='' start_made_dir=''
start_failed() {
	trap - EXIT
	[ -n "$start_dir" ] || return 0
	kill_server "$start_dir" || true
	if [ -n "$start_made_dir" ]; then
		rm -rf -- "$start_dir"
	fi
}

# our_dir CMD DIR checks that DIR was made by start and prints its absolute path.
our_dir() {
	local dir=$2
	[ -n "$dir" ] || die "$1: which server? Pass its DIR or set KANSA_TEST_MINIODIR"
	[ -d "$dir" ] || die "$1: $dir does not exist"
	[ -f "$dir/$marker" ] || die "$dir was not made by $prog start (no $marker in it): not touching it"
	(cd -- "$dir" && pwd -P)
}

cmd_pause() {
	local dir t0
	t0=$(date +%s%N)
	dir=$(our_dir pause "${1:-${KANSA_TEST_MINIODIR:-}}")
	server_pid "$dir" >/dev/null || die "pause: the server in $dir is not running"
	kill_server "$dir"
	note "paused the server in $dir; resume starts it again on port $(state "$dir" port) ($(ms_since "$t0") ms)"
}

cmd_resume() {
	local dir port rc=0 t0
	t0=$(date +%s%N)
	dir=$(our_dir resume "${1:-${KANSA_TEST_MINIODIR:-}}")
	port=$(state "$dir" port) || die "resume: $dir has no port recorded (its start failed?)"
	if server_pid "$dir" >/dev/null; then
		note "the server in $dir already runs"
	else
		launch "$dir" "$port" "$(state "$dir" console_port)" || rc=$?
		[ "$rc" = 0 ] || die "resume: the server did not start again on port $port$([ "$rc" = 2 ] && echo ': something else took the port')"
		note "resumed MinIO on 127.0.0.1:$port, dir $dir ($(ms_since "$t0") ms)"
	fi
	set_exports "$dir"
}

cmd_stop() {
	local dir=${1:-${KANSA_TEST_MINIODIR:-}} t0
	t0=$(date +%s%N)
	[ -n "$dir" ] || die "stop: which server? Pass its DIR or set KANSA_TEST_MINIODIR"
	if [ ! -e "$dir" ]; then
		note "$dir does not exist: nothing to stop"
		return 0
	fi
	dir=$(our_dir stop "$dir")
	kill_server "$dir"
	rm -rf -- "$dir"
	note "stopped and removed $dir ($(ms_since "$t0") ms)"
}

exports=
cmd=${1:-}
[ $# -gt 0 ] && shift
[ $# -le 1 ] || die "usage: $prog start [DIR] | pause [DIR] | resume [DIR] | stop [DIR]"
case $cmd in
start | resume)
	# Everything but the assignments goes to stderr, and nothing started here
	# keeps stdout open: "$(...)" around this script returns when it exits.
	{ "cmd_$cmd" "$@"; } >&2
	printf '%s\n' "$exports"
	;;
pause | stop)
	{ "cmd_$cmd" "$@"; } >&2
	;;
*)
	die "usage: $prog start [DIR] | pause [DIR] | resume [DIR] | stop [DIR]"
	;;
esac
