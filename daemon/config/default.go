package config

// DefaultTOML returns the default config file, every setting commented.
// `hypd config default` prints it and the packages install it as
// /etc/hyp/hypd.toml. It decodes to Default(); interfaces and services are
// empty on purpose: hypd must not guess which interfaces to watch or which
// ports to close.
func DefaultTOML() string {
	return `# hypd configuration. Durations are strings such as "90s", "5m" or "1h30m".
# Every setting shows its default; hypd reads this file at start and again
# on hypd reload (or SIGHUP), which says what waits for a restart.

# Interfaces knocks arrive on; the knock detector attaches to each.
# Required, e.g. ["eth0"] or ["eth0", "wg0"].
interfaces = []

# Services to protect: dropped for everyone except a source that knocked,
# e.g. ["tcp/22", "udp/51820"]. A key opens these unless its own key file
# names other services (which are then protected too).
# Think before protecting the port you are logged in through: your current
# connection stays up, but the next login needs a knock.
services = []

# How long a good knock opens the services for its source address.
# Connections made in that time stay up after it ends. 1s..24h.
open = "1m"

# One file per trusted agent: a base32 secret (reference hyp key files work
# as they are), or NAME.toml to set scheme, length, step, low, high,
# services, open or uses for that key. Files must not be readable by group
# or others (chmod 600). Changes are picked up without a restart.
keys_dir = "/etc/hyp/keys"

# Scheme of keys that do not name one: "v2"; "v3", v2 bound to the realm
# below; or "hyp" for the reference hyp client (32-bit sequences; for
# migration only).
scheme = "v2"

# This gateway's realm, e.g. its public host name or a site name ("office",
# "gw1.example.com"; up to 64 bytes, compared exactly). With a realm, a knock
# made for a gateway of another realm opens nothing here even when both hold
# the same key file: only scheme v3 keys load (set scheme = "v3" above, or
# scheme = "v3" in each key file; v2 and hyp key files are refused by name).
# An HA pair that serves one address shares one realm. A key file may set
# its own realm. Empty: no realm, every scheme loads (as before realms).
realm = ""

# Where hypd remembers spent knocks, so a knock stays one-time across restarts.
state_dir = "/var/lib/hyp"

# Clock skew allowed between agents and this host, in time steps
# (30 seconds by default) either way. 0..10.
skew = 1

# Knocks accepted per key and time step. A client that checks whether the
# service opened may knock again with the next counter. 1..1024.
uses = 1

# How long a whole knock sequence may take to arrive. 100ms..1m.
knock_timeout = "5s"

# Stealth mode: also drop every new inbound TCP or UDP connection attempt to
# any port that is neither public nor granted, so a port scan finds every
# port alike. ICMP, loopback and established traffic are untouched.
stealth = false

# With stealth on, services everyone may reach, e.g. ["tcp/443", "udp/53"].
# List every service this host offers to the world or its LAN (udp/67 for a
# DHCP server, udp/53 for DNS), or stealth will hide it too.
public = []

# debug, info, warn or error.
log_level = "info"

# Serve Prometheus metrics (counters, grants, keys, per-interface attachment)
# over plain HTTP at this IP:PORT, e.g. "127.0.0.1:9108". Empty: off.
metrics = ""
`
}
