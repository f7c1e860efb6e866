# Sourced by the bench scripts that compare commits.
#
# build_at COMMIT PACKAGE OUTPUT builds PACKAGE (./cmd/kansa) as it is at
# COMMIT into OUTPUT (an absolute path), in a worktree removed after.
build_at() {
	local tmp
	tmp=$(mktemp -d)
	git worktree add -f --detach "$tmp/src" "$1" >/dev/null 2>&1
	(cd "$tmp/src" && go build -o "$3" "$2")
	git worktree remove --force "$tmp/src"
	rm -rf "$tmp"
}
