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

# Packages every job needs: a C toolchain for cgo and clang for the BPF program, the kernel tools
# the tests drive, and the peers the benchmarks compare against.
HYP_BASE_PACKAGES=(ca-certificates curl unzip git make gcc libc6-dev pkg-config iproute2 nftables)
