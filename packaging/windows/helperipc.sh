# shellcheck shell=bash
# hyp_wine_helperipc runs the helper channel's Windows tests (app/helperipc: the named pipe, its
# ACL, the peer's token, the protocol) under wine, in a prefix that is already booted and has the
# ProcessPrng shim (.ci/stages/45-windows.sh makes both). The access-denied case of the ACL runs
# on real Windows only: wine keeps a pipe's security descriptor (the test reads it back) but does
# not check it on open. About 6 s.
#
# Needs lib.sh's log/die, HYP_ROOT, WINEPREFIX, a Go toolchain on PATH, and W, the command prefix that
# runs wine where the stage's wineserver runs (empty: here).
hyp_wine_helperipc() {
	local work=$1 t=$SECONDS
	(cd "$HYP_ROOT" && CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go test -c -o "$work/helperipc.test.exe" ./app/helperipc) ||
		die "building the helper channel's Windows tests failed"
	if ! "${W[@]}" wine "$work/helperipc.test.exe" -test.v </dev/null >"$work/helperipc.log" 2>&1; then
		cat "$work/helperipc.log"
		die "the helper channel's tests failed under wine"
	fi
	if grep -q -- '--- SKIP' "$work/helperipc.log"; then
		grep -B3 -- '--- SKIP' "$work/helperipc.log"
		die "a helper channel test skipped under wine, where everything it needs is provided"
	fi
	grep -E '^(--- |PASS|FAIL)' "$work/helperipc.log" | tr -d '\r'
	log "windows: helper channel (named pipe) tests passed under wine in $((SECONDS - t)) s"
}
