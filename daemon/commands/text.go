package commands

// The words of hypd's help and man page that are not a single command's: they live beside the
// command table (commands.go) that the help, the man page and the completions are built from.

const description = `hypd hides the services you name (for example tcp/22 or udp/51820) behind an nftables table,
inet hyp, and watches the uplink interfaces with an XDP program for knocks: short sequences of
UDP datagrams derived from a pre-shared key and the time. A complete, unspent knock opens the
services for its source address alone, for the key's open time; connections made in that time
stay up. Knocks are one-time: a replayed sequence opens nothing.

hypd fails closed. When it stops, the table stays and protected services stay hidden. One hypd
runs per network namespace; a second is refused before it changes anything. A service a key
file named stays hidden after the file is deleted or breaks, until hypd unprotect. A
configuration hypd cannot use at start puts the last protection back in place. Changes made to
its table from outside are repaired within milliseconds. Only hypd cleanup or hypd uninstall
--purge delete the table.`

const runHelp = `Without --config, hypd reads /etc/hyp/hypd.toml when it exists (hypd init writes it); flags
override the file. hypd reload (or SIGHUP, systemctl reload hypd) reads the configuration and the
keys again: a configuration that does not load is refused and the running one stays;
interfaces, keys_dir, state_dir, skew and metrics need a restart. Changes in the keys directory are picked up without a reload.

Exit status 2: the configuration cannot be used; hypd first puts the last protection back in place
(a missing table after a reboot, a flushed chain), and the service retries.`

const secretNewHelp = `Writes NAME's key to the keys directory (mode 0600; NAME.toml, or NAME.key for a plain v2 key)
and prints the hyp:// profile URI for the agent's client. The URI holds the secret: hand it
over privately. An existing key is never replaced without --force. New keys are scheme v3,
bound to the realm: --realm, else the config's (then the key file names none and takes the
realm of each gateway it is copied to); the URI carries scheme=v3&realm=.`

const manTail = `.SH FILES
.TP
.I /etc/hyp/hypd.toml
The configuration; every setting is commented.
.TP
.I /etc/hyp/keys/
One key file per trusted agent (mode 0600): a base32 secret, or NAME.toml with per-key settings.
.TP
.I /var/lib/hyp/spent.json
Spent knocks, so a knock stays one-time across restarts.
.TP
.I /var/lib/hyp/protection.json
What the table protected last: restored when hypd cannot start with its configuration.
.TP
.I /var/lib/hyp/runs.json
The state and keys directories each config file named when hypd last started with it: read when that file is refused at boot.
.TP
.I /run/hyp/hypd.sock
The control socket (root and its group only).
.TP
.I /var/log/hyp/hypd.log
The log of a hypd that hypd start ran without a service manager (under systemd: the journal).
.SH EXIT STATUS
0 on success, 2 for bad input (flags, configuration, key files), 1 for anything else.
.B hypd status
and
.B hypd service\-status
exit 0 when hypd runs, 3 when it does not and 4 when that cannot be told (LSB);
.B hypd reload
exits 7 when no hypd runs.
.SH COEXISTENCE
hypd owns one nftables table,
.BR "inet hyp" ,
and deletes no other. Its chains run at priority \-10, before the usual filter chains of ufw,
firewalld and iptables\-nft: a packet hypd drops is dropped, a packet it accepts still meets
their rules.
.SH SEE ALSO
.BR hyp (1),
.BR nft (8),
.BR systemctl (1),
.I /usr/share/doc/hyp/gateway.md
`
