# shellcheck shell=bash
# Stage: hyp under a real systemd. These machines do not run systemd as PID 1, so this boots a
# minimal Debian root (debootstrap, cached in /var/cache/hyp-nspawn; about 40-70 s the first time)
# under systemd-nspawn and drives `hypd install`, the .deb and the client helper inside it
# (packaging/systemdtest). Sourced by .ci/test; runs in a subshell and leaves nothing behind:
# the tests kill their containers and delete their namespaces even when they fail.
(
	set -euo pipefail
	# What it runs is installed by .ci/test from HYP_TOOLS (.ci/lib.sh), before the first step.
	cd "$HYP_ROOT"
	# shellcheck source=../../packaging/test/rootfs.sh
	. packaging/test/rootfs.sh
	root=$(hyp_rootfs)

	# The package scripts run under /bin/sh on every distribution; completions must at least parse.
	for f in packaging/scripts/*.sh; do sh -n "$f"; done
	for f in packaging/completions/*.bash; do bash -n "$f"; done
	if command -v zsh >/dev/null; then zsh -n packaging/completions/_hyp packaging/completions/_hypd; fi
	if command -v fish >/dev/null; then fish -n packaging/completions/*.fish; fi

	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
	log "systemd: building hyp, hypd and the $(go env GOARCH) .deb"
	CGO_ENABLED=0 go build -trimpath -o "$work/bin/hyp" ./app/cmd/hyp
	CGO_ENABLED=0 go build -trimpath -o "$work/bin/hypd" ./daemon
	DIST=$work/dist HYP_PACKAGE_ARCHS=$(go env GOARCH) HYP_PACKAGE_FORMATS=deb HYP_PACKAGE_TRAY=0 \
		bash .ci/package >/dev/null

	log "systemd: tests in systemd-nspawn containers"
	rc=0
	HYP_NSPAWN_ROOT=$root HYP_BIN=$work/bin HYP_DIST=$work/dist \
		go test -tags nspawn -count=1 -timeout 8m -json ./packaging/systemdtest/ >"$work/nspawn.json" 2>"$work/nspawn.err" || rc=$?
	"$reportdir/testreport" -v --no-skip systemd-tests <"$work/nspawn.json" >"$work/nspawn.log" || rc=1
	grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic|skipped:|failed package:|systemd-tests:)|_test.go:|harness_linux.go:' "$work/nspawn.log" || true
	if [ "$rc" -ne 0 ]; then
		cat "$work/nspawn.err"
		tail -n 60 "$work/nspawn.log"
		exit "$rc"
	fi
)
