#!/bin/sh
# hyp package: after install or upgrade. Never hides or exposes anything by itself: a fresh
# install only tells the admin what to do next; an upgrade restarts hypd only if it was running
# (a restart keeps the nftables table, so nothing is exposed meanwhile).
set -e

# deb: "configure OLD-VERSION" (empty on a fresh install); rpm: $1 = number of installed copies.
upgrade=no
case "${1:-}" in
	configure) [ -n "${2:-}" ] && upgrade=yes ;;
	[2-9] | [1-9][0-9]*) upgrade=yes ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
chmod 0700 /etc/hyp/keys 2>/dev/null || true
# Members of the group hyp may use the client helper's socket (/run/hyp-helper.sock: the tray,
# hyp helper live/connect); the helper reads the group when it starts. Nobody is added to it.
if ! getent group hyp >/dev/null 2>&1; then
	groupadd --system hyp >/dev/null 2>&1 || addgroup --system hyp >/dev/null 2>&1 || true
fi

if [ "$upgrade" = yes ]; then
	if [ -d /run/systemd/system ]; then
		systemctl try-restart hypd.service >/dev/null 2>&1 || true
	fi
	exit 0
fi

cat <<'MSG'

hyp is installed; hypd is NOT running and hides nothing yet. Next:
  1. edit /etc/hyp/hypd.toml: interfaces = ["eth0"], services = ["tcp/22"]
  2. hypd secret new NAME --host PUBLIC-NAME-OR-IP      (one key per agent; prints its hyp:// URI)
  3. hypd check --config /etc/hyp/hypd.toml
  4. systemctl enable --now hypd                        (then: hypd status)
See hypd(8) and /usr/share/doc/hyp/gateway.md.

MSG
exit 0
