#!/bin/sh
# hyp package: after removal. Purge (deb) also deletes the spent-knock state. Keys in
# /etc/hyp/keys are secrets the admin made: they are never deleted by a package script.
set -e

case "${1:-}" in
	remove | purge | 0)
		if [ -d /run/systemd/system ]; then
			systemctl daemon-reload >/dev/null 2>&1 || true
		fi
		;;
esac
if [ "${1:-}" = purge ]; then
	rm -rf /var/lib/hyp
	if [ -d /etc/hyp/keys ] && [ -n "$(ls -A /etc/hyp/keys 2>/dev/null)" ]; then
		echo "hyp: kept the keys in /etc/hyp/keys; delete them by hand if you want them gone"
	fi
fi
exit 0
