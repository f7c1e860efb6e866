# Free loopback ports for the test servers' scripts (pg.sh, minio.sh),
# which source this file.

# port_taken PORT: is anything bound to PORT on this machine, in any state?
# Reads the kernel's socket tables; where there are none, tries to connect.
port_taken() {
	local hex f local_addr
	printf -v hex '%04X' "$1"
	if [ -r /proc/net/tcp ]; then
		for f in /proc/net/tcp /proc/net/tcp6; do
			[ -r "$f" ] || continue
			while read -r _ local_addr _; do
				[ "${local_addr##*:}" = "$hex" ] && return 0
			done <"$f"
		done
		return 1
	fi
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port prints a port in 15000–32767 that nothing uses, outside the
# kernel's ephemeral range (so no outgoing connection takes it meanwhile)
# when that range allows. Ports given as arguments are not chosen.
free_port() {
	local lo=32768 hi=60999 p i x skip
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r lo hi </proc/sys/net/ipv4/ip_local_port_range || true
	fi
	for i in $(seq 1 200); do
		p=$((15000 + (RANDOM * 32768 + RANDOM) % 17768))
		if [ "$i" -le 100 ] && [ "$p" -ge "$lo" ] && [ "$p" -le "$hi" ]; then
			continue
		fi
		skip=''
		for x in "$@"; do [ "$x" = "$p" ] && skip=1; done
		[ -z "$skip" ] || continue
		if ! port_taken "$p"; then
			printf '%s\n' "$p"
			return 0
		fi
	done
	return 1
}
