# shellcheck shell=bash
# Stage: the README's first command, as a test. Runs .ci/demo (the demo gateway and client in
# their own namespaces) and checks its transcript says what the demo claims: hidden before the
# knock, open after it, a replay in the same window refused and the port hidden again, the
# client's own next knock opening it. A demo that only prints a fallback line passes no more.
(
	set -euo pipefail
	cd "$HYP_ROOT"
	out=$(mktemp)
	trap 'rm -f "$out"' EXIT
	bash .ci/demo >"$out" 2>&1 || { cat "$out" >&2; die "demo: .ci/demo failed"; }
	plain=$(sed 's/\x1b\[[0-9;]*m//g' "$out")
	for want in "no answer (timed out: the port is hidden)" "connected: hello from the hidden service" \
		'msg="access granted" key=laptop' 'msg="replay refused" key=laptop' "grants logged by hypd: 2"; do
		grep -qF -- "$want" <<<"$plain" || { cat "$out" >&2; die "demo: the transcript lacks: $want"; }
	done
	# Hidden before the knock and again after the revoke and the replay.
	[ "$(grep -cF "no answer (timed out: the port is hidden)" <<<"$plain")" -ge 2 ] ||
		{ cat "$out" >&2; die "demo: the port was not hidden again after the replay"; }
	log "demo: hidden, opened by a knock, a replay refused and hidden, opened by the next knock"
)
