# shellcheck shell=bash
# Shared by .ci/demo, .ci/test and .ci/run: make a fresh Debian/Ubuntu machine able to build and
# test hyp. Everything here is idempotent, so running it on a prepared machine costs seconds.

HYP_GO_VERSION=1.26.8
HYP_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

need_root() {
	[ "$(id -u)" = 0 ] || die "run as root (sudo $0): hyp loads eBPF programs, programs nftables and makes network namespaces"
}

# apt_install installs the Debian packages that are missing, updating the package lists once.
apt_install() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# go_new_enough succeeds when the go on PATH is at least the version go.mod asks for.
go_new_enough() {
	command -v go >/dev/null 2>&1 || return 1
	local have
	have=$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null | sed 's/^go//')
	[ -n "$have" ] || return 1
	[ "$(printf '%s\n%s\n' "$HYP_GO_VERSION" "$have" | sort -V | head -n1)" = "$HYP_GO_VERSION" ]
}

# ensure_go puts a Go toolchain of at least HYP_GO_VERSION on PATH. Like GOTOOLCHAIN does, it
# fetches the golang.org/toolchain module zip from the configured Go module proxy and unpacks it.
ensure_go() {
	local dir=/usr/local/lib/hyp-go$HYP_GO_VERSION
	for d in /usr/local/go/bin "$dir/bin"; do
		case ":$PATH:" in *":$d:"*) ;; *) [ -x "$d/go" ] && PATH="$d:$PATH" ;; esac
	done
	export PATH
	if go_new_enough; then export GOTOOLCHAIN=local; return 0; fi

	local arch proxies proxy url tmp
	arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
	case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
	proxies=${GOPROXY:-}
	if [ -z "$proxies" ] && command -v go >/dev/null 2>&1; then proxies=$(go env GOPROXY 2>/dev/null || true); fi
	proxies=${proxies:-https://proxy.golang.org}
	tmp=$(mktemp -d)
	for proxy in $(printf '%s' "$proxies" | tr ',|' '  '); do
		case "$proxy" in direct|off|"") continue ;; esac
		url="${proxy%/}/golang.org/toolchain/@v/v0.0.1-go$HYP_GO_VERSION.linux-$arch.zip"
		log "fetching Go $HYP_GO_VERSION from $proxy"
		if curl -fsSL --retry 3 -o "$tmp/go.zip" "$url"; then break; fi
		rm -f "$tmp/go.zip"
	done
	[ -s "$tmp/go.zip" ] || die "could not fetch Go $HYP_GO_VERSION from the Go module proxy ($proxies)"
	unzip -q "$tmp/go.zip" -d "$tmp/x"
	rm -rf "$dir"
	mv "$tmp/x/golang.org/toolchain@v0.0.1-go$HYP_GO_VERSION.linux-$arch" "$dir"
	rm -rf "$tmp"
	# Module zips carry no file modes; the go command restores them the same way.
	chmod -R a+rX "$dir"
	chmod a+x "$dir"/bin/* "$dir"/pkg/tool/*/*
	PATH="$dir/bin:$PATH"
	export PATH GOTOOLCHAIN=local
	go_new_enough || die "Go $HYP_GO_VERSION unpacked in $dir does not run"
}

# HYP_TOOLS is the one list of what hyp's scripts, tests and stages run or build against on the
# host: one Debian package a line, its groups, what proves it is there (commands on PATH; pc:NAME,
# a pkg-config module; h:PATH, a C header that compiles; h:A+B, header B included after A), and
# who needs it. Groups: base (every script: .ci/demo, .ci/bench, .ci/test), tray (the cgo tray
# app: `make build` checks these and names the missing ones), test (.ci/test and its stages).
# .ci/test installs every line before its first step and then checks every proof, so a missing
# package fails there, by name, and never in the middle of a test; the stages install nothing of
# their own. A test or stage that starts running a new host command adds its package here.
# (Commands inside the systemd-nspawn containers come from packaging/test/rootfs.sh instead.)
HYP_TOOLS='
ca-certificates            base      -                         # curl and apt over https
curl                       base      curl                      # ensure_go: Go from the module proxy
unzip                      base      unzip                     # ensure_go
git                        base      git                       # make lint (git ls-files), check-generate
make                       base      make                      # make build, lint, cross, check-generate
gcc                        base,tray gcc                       # cgo: go test -race, the tray app
libc6-dev                  base,tray h:stdio.h                 # cgo
pkg-config                 base,tray pkg-config                # cgo (Fyne, GLFW)
iproute2                   base      ip                        # network namespaces: every gateway test, the demo
nftables                   base      nft                       # firewall, detector, e2e tests read and break the ruleset
socat                      base      socat                     # the hidden TCP service: demo, cli, gui, systemd tests
libgl1-mesa-dev            tray      pc:gl,h:GL/gl.h           # Fyne draws with OpenGL (GLFW)
libx11-dev                 tray      pc:x11,h:X11/Xlib.h       # GLFW
libxcursor-dev             tray      pc:xcursor,h:X11/Xcursor/Xcursor.h
libxrandr-dev              tray      pc:xrandr,h:X11/extensions/Xrandr.h
libxinerama-dev            tray      pc:xinerama,h:X11/extensions/Xinerama.h
libxi-dev                  tray      pc:xi,h:X11/extensions/XInput2.h
libxxf86vm-dev             tray      pc:xxf86vm,h:X11/Xlib.h+X11/extensions/xf86vmode.h
clang                      test      clang                     # make check-generate (bpf2go)
llvm                       test      llvm-strip                # bpf2go strips the BPF objects
iputils-ping               test      ping                      # firewall, detector tests
procps                     test      sysctl                    # firewall, detector tests: forwarding, rp_filter
tcpdump                    test      tcpdump                   # e2e: nothing answers a knock
nmap                       test      nmap                      # e2e: stealth scans
util-linux                 test      nsenter,flock             # systemd tests; packaging/windows/tray.sh
coreutils                  test      timeout,sha256sum         # gui test; packaging/test/rootfs.sh
dbus                       test      dbus-run-session          # keyring tests, gui stage
gnome-keyring              test      gnome-keyring-daemon      # keyring tests, gui stage: a real Secret Service
debootstrap                test      debootstrap               # systemd stage: the container root
systemd-container          test      systemd-nspawn            # systemd stage
xvfb                       test      Xvfb                      # gui stage
x11-utils                  test      xdpyinfo                  # gui stage: waits for the X server
haskell-gtk-sni-tray-utils test      gtk-sni-tray-standalone   # gui stage: the tray host
dunst                      test      dunst,dunstctl            # gui test: a real notification server (org.freedesktop.Notifications)
libglib2.0-bin             test      gdbus                     # gui stage
imagemagick                test      import                    # gui test: screenshots
xdotool                    test      xdotool                   # gui test: finds and clicks windows
libgl1-mesa-dri            test      -                         # gui stage: software OpenGL under Xvfb
gcc-mingw-w64-x86-64       test      x86_64-w64-mingw32-gcc,x86_64-w64-mingw32-objdump # windows stage
wine                       test      wine,wineserver,wineboot  # windows stage
wine64                     test      -                         # windows stage: 64-bit wine
jq                         test      jq                        # windows stage: the knock vectors
wixl                       test      wixl                      # windows stage: builds the MSI (packaging/windows/msi.sh)
msitools                   test      msibuild,msiinfo          # windows stage: adds the PATH entry to the MSI
file                       test      file                      # windows stage: the .exe is a GUI PE32+
xz-utils                   test      xz                        # fyne package: the tray .tar.xz
zsh                        test      zsh                       # cmdline tests, systemd stage: the zsh completions parse
fish                       test      fish                      # cmdline tests: the fish completions parse and complete
groff-base                 test      groff                     # cmdline tests: the man pages render without warnings
'

# hyp_tools prints the lines of HYP_TOOLS (package group proofs) of the given groups (all when none).
hyp_tools() {
	local groups=" $* "
	printf '%s\n' "$HYP_TOOLS" | sed 's/#.*//' | awk -v g="$groups" '
		NF >= 3 { n = split($2, gs, ","); for (i = 1; i <= n; i++) if (g == "  " || index(g, " " gs[i] " ")) { print; next } }'
}

# hyp_packages prints the packages of the given groups, one a line.
hyp_packages() { hyp_tools "$@" | awk '{print $1}'; }

# hyp_missing prints the packages of the given groups whose proofs fail on this machine.
hyp_missing() {
	local pkg group proofs p ok
	while read -r pkg group proofs; do
		ok=1
		for p in ${proofs//,/ }; do
			case $p in
			-) ;;
			pc:*) pkg-config --exists "${p#pc:}" 2>/dev/null || ok=0 ;;
			# h:A+B: a C file including A then B compiles (B needs A's declarations).
			h:*) printf '#include <%s>\n' ${p//+/ } | sed 's/<h:/</' | ${CC:-gcc} -fsyntax-only -x c - >/dev/null 2>&1 || ok=0 ;;
			*) command -v "$p" >/dev/null 2>&1 || ok=0 ;;
			esac
		done
		[ "$ok" = 1 ] || printf '%s\n' "$pkg"
	done < <(hyp_tools "$@")
}

# install_tools installs the packages of the given groups, then fails naming every package whose
# command, pkg-config module or header is still missing (a wrong line in HYP_TOOLS).
install_tools() {
	local pkgs missing
	mapfile -t pkgs < <(hyp_packages "$@")
	apt_install "${pkgs[@]}"
	missing=$(hyp_missing "$@" | tr '\n' ' ')
	[ -z "$missing" ] || die "installed, yet what HYP_TOOLS says they provide is missing: $missing(see .ci/lib.sh)"
}

# Kept for scripts that list their own extras (.ci/bench).
mapfile -t HYP_BASE_PACKAGES < <(hyp_packages base)
