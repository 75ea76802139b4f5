# shellcheck shell=bash
# hyp_tray_package builds the tray app with fyne's packager (`go tool fyne package`, a go.mod
# tool). Sourced by .ci/package-tray and .ci/stages/45-windows.sh: both must build the Windows
# .exe with the same command, environment and flags, or the second build misses the Go build
# cache and costs another cold cgo cross build (6-8 minutes on two cores).
#
# The packager writes into its source directory (fyne_metadata_init.go; for Windows also a
# windows/amd64 fyne.syso, which a Linux build of that package meanwhile would try to link)
# and bumps Details.Build in FyneApp.toml. So it never runs in app/cmd/hyp-tray: it gets a
# copy of the package, FyneApp.toml and the icon under app/.cache/tray/OS/ (inside app/, so
# imports resolve, app/internal included; ignored by git and by ./... patterns). The path is fixed per OS so that the
# main package's compile is cached too; a lock keeps two builds for one OS from sharing it.
#
# Needs lib.sh's log/die, HYP_ROOT and a Go toolchain on PATH (ensure_go).

# hyp_tray_package OS OUT builds for OS (linux or windows, amd64) and copies the result to OUT:
# linux: the .tar.xz (binary, .desktop file, icon, Makefile); windows: the GUI .exe carrying
# the icon, version information and manifest from FyneApp.toml.
hyp_tray_package() {
	local os=$1 out=$2
	local stage=$HYP_ROOT/app/.cache/tray/$os
	local src=$stage/hyp-tray
	case $out in /*) ;; *) out=$PWD/$out ;; esac
	mkdir -p "$stage"
	(
		set -euo pipefail
		exec 9>"$stage.lock"
		flock 9
		rm -rf "$src" "$stage"/*.tar.xz
		mkdir -p "$src"
		local f
		for f in "$HYP_ROOT"/app/cmd/hyp-tray/*.go; do
			case $f in *_test.go) continue ;; esac
			cp "$f" "$src/"
		done
		# FyneApp.toml names its icon relative to itself (assets/icon.png): keep that layout.
		cp "$HYP_ROOT/FyneApp.toml" "$src/"
		icon=$(sed -n 's/^Icon *= *"\(.*\)"$/\1/p' "$HYP_ROOT/FyneApp.toml")
		[ -n "$icon" ] || die "FyneApp.toml: [Details] Icon is missing"
		mkdir -p "$src/$(dirname "$icon")"
		cp "$HYP_ROOT/$icon" "$src/$icon"
		# The packager is a host program: build it before GOOS points elsewhere (`go tool fyne`
		# under GOOS=windows would build fyne.exe). -n prints the cached binary's path.
		local fyne
		fyne=$(cd "$HYP_ROOT" && env -u GOOS -u GOARCH -u CC go tool -n fyne)
		cd "$stage"
		case $os in
		linux)
			env -u CC -u GOARCH CGO_ENABLED=1 GOOS=linux \
				"$fyne" package --os linux --release --src "$src"
			# The archive is named after [Details] Name; there is exactly one.
			cp "$stage"/*.tar.xz "$out"
			;;
		windows)
			# --release: -trimpath, -s -w and the "release" build tag; the packager adds
			# -H=windowsgui and links the .syso with the icon, version and manifest.
			CC=x86_64-w64-mingw32-gcc CGO_ENABLED=1 GOOS=windows GOARCH=amd64 \
				"$fyne" package --os windows --release --src "$src"
			# The packager renames the .exe after [Details] Name (hyp.exe, the CLI's name).
			local exe
			exe=$(find "$src" -maxdepth 1 -name '*.exe' | head -n1)
			[ -n "$exe" ] || die "fyne package -os windows left no .exe in $src"
			cp "$exe" "$out"
			;;
		*) die "hyp_tray_package: unknown OS $os (linux or windows)" ;;
		esac
		rm -rf "$src"
	)
}

# hyp_tray_check_exe FILE fails unless FILE is a 64-bit Windows GUI program whose resources
# hold what FyneApp.toml gives it: an icon (resource types 3 and 14, icon and icon group),
# version information (16) and a manifest (24).
hyp_tray_check_exe() {
	local exe=$1 kind types want
	kind=$(file -b "$exe")
	case $kind in
	"PE32+ executable (GUI) x86-64"*) ;;
	*) die "$exe is not a 64-bit Windows GUI program: $kind" ;;
	esac
	# The top level of the resource tree (three spaces deep in objdump's dump) lists the types.
	types=$(x86_64-w64-mingw32-objdump -p "$exe" | awk '
		/^The .rsrc Resource Directory section/ { r = 1; next }
		r && /^[0-9a-f]+   Entry: ID: / { sub(/^0x0*/, "", $4); sub(/,$/, "", $4); printf " %s", $4 }')
	for want in 3 e 10 18; do
		case "$types " in
		*" $want "*) ;;
		*) die "$exe: no resource of type 0x$want (have:$types; want icon 3, icon group e, version 10, manifest 18)" ;;
		esac
	done
}
