# shellcheck shell=bash
# hyp_rootfs prints the path of a cached minimal Debian root that boots under systemd-nspawn,
# building it with debootstrap the first time (about 70 s). The cache is keyed by the suite and
# the package list, so changing either builds a new root beside the old one.
#
#   root=$(hyp_rootfs)            # /var/cache/hyp-nspawn/<key>/root
#
# The root is never booted in place: tests boot a copy (cp --reflink=auto -a), so every run
# starts from the same state.

HYP_NSPAWN_SUITE=${HYP_NSPAWN_SUITE:-bookworm}
HYP_NSPAWN_MIRROR=${HYP_NSPAWN_MIRROR:-http://deb.debian.org/debian}
HYP_NSPAWN_CACHE=${HYP_NSPAWN_CACHE:-/var/cache/hyp-nspawn}
# systemd and dbus to boot and drive units; iproute2 and nftables to look at the gateway from
# inside; socat is the protected TCP service the knock opens.
HYP_NSPAWN_PACKAGES=systemd,systemd-sysv,dbus,iproute2,nftables,socat

hyp_rootfs() {
	local key dir
	key=$(printf '%s|minbase|%s' "$HYP_NSPAWN_SUITE" "$HYP_NSPAWN_PACKAGES" | sha256sum | cut -c1-12)
	dir=$HYP_NSPAWN_CACHE/$HYP_NSPAWN_SUITE-$key
	if [ ! -e "$dir/ok" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		printf '==> debootstrap %s into %s (once per machine, about 70 s)\n' "$HYP_NSPAWN_SUITE" "$dir" >&2
		if ! debootstrap --variant=minbase --include="$HYP_NSPAWN_PACKAGES" "$HYP_NSPAWN_SUITE" "$dir/root" "$HYP_NSPAWN_MIRROR" >"$dir/debootstrap.log" 2>&1; then
			tail -n 20 "$dir/debootstrap.log" >&2
			return 1
		fi
		# A machine id and no getty: the container boots quietly and the same way every time.
		: >"$dir/root/etc/machine-id"
		rm -f "$dir/root/etc/systemd/system/getty.target.wants/"* 2>/dev/null || true
		touch "$dir/ok"
	fi
	printf '%s\n' "$dir/root"
}
