# shellcheck shell=bash
# Stage: the tray app for real. Builds bin/hyp-tray (cgo, Fyne), starts Xvfb, a session bus on a
# filesystem socket, an unlocked gnome-keyring and a StatusNotifierItem host
# (gtk-sni-tray-standalone), then runs app/cmd/hyp-tray's gui test: it clicks "Knock & Connect"
# over D-Bus for a profile whose gateway is hypd in a network namespace, and screenshots the menu
# and the profile window (kept in $HYP_ARTIFACTS, default dist/screenshots).
(
	set -euo pipefail
	apt_install xvfb haskell-gtk-sni-tray-utils imagemagick xdotool libgl1-mesa-dri dbus gnome-keyring socat \
		libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev
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
	export HYP_ARTIFACTS=${HYP_ARTIFACTS:-$HYP_ROOT/dist/screenshots}
	export HYP_BIN=$HYP_ROOT/bin DISPLAY=$display HOME=$work/home XDG_CONFIG_HOME=$work/home/.config \
		XDG_DATA_HOME=$work/home/.local/share XDG_RUNTIME_DIR=$work LANG=en_US.UTF-8 NO_AT_BRIDGE=1
	rc=0
	dbus-run-session --config-file="$work/session.conf" -- sh -c '
		printf hyp-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null
		gtk-sni-tray-standalone --watcher --top --size 32 >"$XDG_RUNTIME_DIR/sni.log" 2>&1 &
		sni=$!
		go test -tags gui -count=1 -v -run TestRealTray ./app/cmd/hyp-tray/
		rc=$?
		kill $sni 2>/dev/null
		exit $rc' || rc=$?
	[ "$rc" -eq 0 ] || exit "$rc"
	log "gui: screenshots in $HYP_ARTIFACTS"
)
