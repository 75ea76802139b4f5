# shellcheck shell=bash
# Stage: the tray app for real. Builds bin/hyp-tray (cgo, Fyne), starts Xvfb, a session bus on a
# filesystem socket, an unlocked gnome-keyring and a StatusNotifierItem host
# (gtk-sni-tray-standalone), then runs app/cmd/hyp-tray's gui test: it clicks "Knock & Connect"
# over D-Bus for a profile whose gateway is hypd in a network namespace, checks that dunst (which
# the test starts as the session's notification server) got the result, and screenshots the menu
# and the profile window (kept in $HYP_ARTIFACTS, default dist/screenshots); then checks that
# without a session bus it opens its window instead and quits without a panic. quit_gui_test.go's
# tests match the same -run pattern: DISPLAY naming no X server is one line and exit 1
# (TestTrayCommandLineNoXServer), SIGTERM quits with status 0 (TestRealTrayQuitsOnSIGTERM), an
# always-on profile connects at start (TestRealTrayConnectsAlwaysOn). The test builds
# with -trimpath like `make build`, so the cgo packages come from the same Go build cache.
(
	set -euo pipefail
	# What it runs is installed by .ci/test from HYP_TOOLS (.ci/lib.sh), before the first step.
	cd "$HYP_ROOT"
	log "gui: building bin/hyp, bin/hypd, bin/hyp-tray"
	make -s build >/dev/null
	[ -x bin/hyp-tray ] || die "bin/hyp-tray was not built"

	work=$(mktemp -d)
	display=:$((90 + RANDOM % 100))
	Xvfb "$display" -screen 0 1024x600x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
	xvfb=$!
	trap 'kill "$xvfb" 2>/dev/null; wait "$xvfb" 2>/dev/null; rm -rf "$work"' EXIT
	for _ in $(seq 50); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done
	sed "s#@DIR@#$work#" packaging/gui/session.conf >"$work/session.conf"
	mkdir -p "$work/home"
	# HOME moves to a throwaway directory (keyring, profiles, fyne settings); Go's caches must
	# not move with it, or the test downloads every module and rebuilds the cgo tree cold.
	GOCACHE=$(go env GOCACHE) GOMODCACHE=$(go env GOMODCACHE)
	export GOCACHE GOMODCACHE
	export HYP_ARTIFACTS=${HYP_ARTIFACTS:-$HYP_ROOT/dist/screenshots}
	export HYP_TESTREPORT=$reportdir/testreport HYP_BIN=$HYP_ROOT/bin DISPLAY=$display HOME=$work/home XDG_CONFIG_HOME=$work/home/.config \
		XDG_DATA_HOME=$work/home/.local/share XDG_RUNTIME_DIR=$work LANG=en_US.UTF-8 NO_AT_BRIDGE=1
	rc=0
	dbus-run-session --config-file="$work/session.conf" -- bash -c '
		printf hyp-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
		gtk-sni-tray-standalone --watcher --top --size 32 >"$XDG_RUNTIME_DIR/sni.log" 2>&1 &
		sni=$!
		# The tray host must own the watcher name before hyp-tray starts, or hyp-tray rightly
		# decides there is no tray and opens its window instead.
		i=0
		until gdbus call --session --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
			--method org.freedesktop.DBus.NameHasOwner org.kde.StatusNotifierWatcher 2>/dev/null | grep -q true; do
			i=$((i + 1))
			if [ $i -gt 100 ] || ! kill -0 $sni 2>/dev/null; then
				echo "gtk-sni-tray-standalone did not start its watcher within 10s:" >&2
				cat "$XDG_RUNTIME_DIR/sni.log" >&2
				exit 1
			fi
			sleep 0.1
		done
		set -o pipefail
		go test -trimpath -tags gui -count=1 -json -run "TestRealTray|TestTrayCommandLine" ./app/cmd/hyp-tray/ |
			"$HYP_TESTREPORT" -v --no-skip gui-tests
		rc=$?
		kill $sni 2>/dev/null
		exit $rc' || rc=$?
	if [ "$rc" -ne 0 ]; then
		log "gui: failed; the X server said:"
		cat "$work/xvfb.log" >&2
		exit "$rc"
	fi
	log "gui: screenshots in $HYP_ARTIFACTS"
)
