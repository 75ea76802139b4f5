# shellcheck shell=bash
# Stage: Windows. Proves the cgo tray app cross-builds with mingw (the same build as
# `make package`, so one of them hits a warm Go build cache), and runs the CLI .exe under
# Debian's wine against the knock vectors of core/testdata. Two wine 8 gaps shape the test:
# it has no bcryptprimitives.dll, which every Go >= 1.24 program loads at start-up, so the
# stage builds a one-function ProcessPrng stand-in (packaging/windows/processprng.c) into its
# own WINEPREFIX after showing that the .exe fails without it; and it refuses Go's UDP socket
# setup (SIO_UDP_NETRESET), so the test runs `hyp sequence`, not `hyp knock`.
# Sourced by .ci/test; runs in a subshell, and its trap stops the prefix's wineserver.
(
	set -euo pipefail
	# What it runs is installed by .ci/test from HYP_TOOLS (.ci/lib.sh), before the first step.
	cd "$HYP_ROOT"
	# shellcheck source=../../packaging/windows/tray.sh
	. packaging/windows/tray.sh
	work=$(mktemp -d)
	export WINEPREFIX=$work/wine WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
	unset DISPLAY WAYLAND_DISPLAY
	trap 'wineserver -k 2>/dev/null || true; rm -rf "$work"' EXIT
	started=$SECONDS

	log "windows: cross-building the tray app (fyne package --os windows, mingw)"
	t=$SECONDS
	hyp_tray_package windows "$work/hyp-tray.exe"
	hyp_tray_check_exe "$work/hyp-tray.exe"
	log "windows: hyp-tray.exe $(($(stat -c %s "$work/hyp-tray.exe") / 1024)) KiB in $((SECONDS - t)) s"

	exe=dist/hyp-windows-amd64.exe
	if [ ! -f "$exe" ]; then
		log "windows: $exe is missing (make cross makes it): building it"
		exe=$work/hyp.exe
		CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath -o "$exe" ./app/cmd/hyp
	fi

	t=$SECONDS
	# One wineserver for the whole test instead of one per run; the trap stops it. Started
	# first: a second `wineserver -p` fails while wineboot's own server lingers.
	mkdir -p "$WINEPREFIX"
	wineserver -p
	wineboot -i >"$work/wineboot.log" 2>&1 || { cat "$work/wineboot.log"; die "wineboot failed"; }
	log "windows: wineboot $((SECONDS - t)) s ($(wine --version))"

	sys32=$WINEPREFIX/drive_c/windows/system32
	if wine "$exe" version </dev/null >"$work/noshim.out" 2>&1; then
		log "windows: this wine has bcryptprimitives.dll (ProcessPrng): no shim needed"
	else
		grep -q 'bcryptprimitives.dll' "$work/noshim.out" || {
			cat "$work/noshim.out"
			die "hyp.exe fails under wine without the shim, but not for want of bcryptprimitives.dll"
		}
		log "windows: without the shim hyp.exe dies: $(grep -m1 bcryptprimitives "$work/noshim.out")"
		x86_64-w64-mingw32-gcc -shared -O2 -s -Wall -Wextra -Werror \
			-o "$sys32/bcryptprimitives.dll" packaging/windows/processprng.c -ladvapi32
	fi

	# The helper channel's named pipe (app/helperipc), with the prefix booted and shimmed.
	# shellcheck source=../../packaging/windows/helperipc.sh
	. packaging/windows/helperipc.sh
	hyp_wine_helperipc "$work"

	pass=0
	fail=0
	check() { # name expected-output command... : runs the command under wine, compares stdout
		local name=$1 want=$2 got rc=0
		shift 2
		got=$(wine "$exe" "$@" </dev/null 2>"$work/stderr" | tr -d '\r') || rc=$?
		if [ "$rc" = 0 ] && [ "$got" = "$want" ]; then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			printf 'FAIL %s: hyp.exe %s\n  want %s\n  got  %s (exit %s) %s\n' \
				"$name" "${*:1:$#-1} URI" "$want" "$got" "$rc" "$(cat "$work/stderr")" >&2
		fi
	}

	# One case a line: name, URI, unix time, counter ("-" for hyp, which has none), ports. No
	# empty fields: read would merge neighbouring tabs.
	jq -r '(input_filename | split("/") | last) as $file | .scheme as $scheme
		| .cases | to_entries[] | .key as $i | .value
		| [ "\($file) case \($i)",
		    "hyp://vectors.invalid?secret=\(.secret)&scheme=\($scheme)"
		      + ([["length", .length], ["step", .step], ["low", .low], ["high", .high]]
		         | map(select(.[1] != null) | "&\(.[0])=\(.[1])") | join("")),
		    .time, (.counter // "-"), (.ports | map(tostring) | join(" ")) ]
		| @tsv' core/testdata/knock-v2.json core/testdata/knock-hyp.json >"$work/cases.tsv"
	while IFS=$'\t' read -r name uri time counter ports; do
		if [ "$counter" != - ]; then
			check "$name" "$ports" sequence --time "$time" --counter "$counter" "$uri"
		else
			check "$name" "$ports" sequence --time "$time" "$uri"
		fi
	done <"$work/cases.tsv"
	[ $((pass + fail)) = "$(wc -l <"$work/cases.tsv")" ] || die "wine: the vector loop skipped cases"

	# version names the Windows build; a bad URI is a usage error: exit 2, naming the parameter.
	if wine "$exe" version </dev/null 2>&1 | tr -d '\r' | grep -q ' windows/amd64$'; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL version: %s\n' "$(wine "$exe" version </dev/null 2>&1)" >&2
	fi
	rc=0
	wine "$exe" sequence 'hyp://vectors.invalid?secret=not-base32!' </dev/null >"$work/bad.out" 2>&1 || rc=$?
	if [ "$rc" = 2 ] && grep -q 'parameter "secret"' "$work/bad.out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL bad URI: exit %s, want 2 naming "secret": %s\n' "$rc" "$(cat "$work/bad.out")" >&2
	fi

	# The tray .exe cannot show its window here (no display), but --version proves wine loads it:
	# every DLL it imports (opengl32, gdi32, ...) resolves and the Go runtime starts.
	rc=0
	wine "$work/hyp-tray.exe" --version </dev/null >"$work/tray.out" 2>&1 || rc=$?
	if [ "$rc" = 0 ] && grep -q '^hyp-tray .* windows/amd64' "$work/tray.out"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		printf 'FAIL hyp-tray.exe --version: exit %s: %s\n' "$rc" "$(cat "$work/tray.out")" >&2
	fi

	log "wine: $pass passed, $fail failed (stage $((SECONDS - started)) s)"
	[ "$fail" = 0 ] || die "wine: $fail of $((pass + fail)) checks failed"
)
