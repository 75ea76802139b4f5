#!/bin/sh
# hyp package: before removal. On an upgrade nothing happens (the table and hypd stay). On a real
# removal hypd stops and its nftables table is deleted while hypd is still here to do it: a
# package that is gone must not leave services hidden with no hypd to knock on and no tool to
# undo it. Protected services become reachable again unless another firewall hides them.
set -e

# deb: "remove" or "upgrade NEW-VERSION"; rpm: $1 = copies left after this one goes (0 = removal).
case "${1:-}" in
	remove | 0) ;;
	*) exit 0 ;;
esac

if [ -d /run/systemd/system ]; then
	systemctl disable --now hypd.service >/dev/null 2>&1 || true
fi
if [ -x /usr/sbin/hypd ]; then
	/usr/sbin/hypd cleanup || true
fi
exit 0
