package firewall

import (
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"strings"
	"time"
)

// DefaultTable is the name of the inet table hypd owns when Config.Table is empty.
const DefaultTable = "hyp"

// Grant is one open (source address, service) pair and the time it has left.
type Grant struct {
	Addr    netip.Addr
	Service protected.Service
	Expires time.Duration // time left until the kernel drops the grant
	Key     string        // name of the key that granted (the element's comment)
}

// Config selects the table and what it protects.
type Config struct {
	// Table is the name of the inet table hypd owns; empty means DefaultTable.
	// Tests use their own name or namespace.
	Table string
	// Protected services are dropped unless the source holds a grant.
	Protected []protected.Service
	// Stealth drops every new inbound TCP or UDP flow to a port that is
	// neither Public nor granted, so a scan sees every port alike, silent.
	// Without it a protected port is answered as an unused one is (an RST, an
	// ICMP port unreachable), so it looks like the ports around it. List every
	// service the host offers in Public, including udp/67 for a DHCP server
	// and udp/53 for a DNS server.
	Stealth bool
	// Public services stay open to everyone in stealth mode. Without stealth only their UDP
	// ports count: knock-sized datagrams (payload 0..16 bytes) to them pass, as the XDP detector
	// passes them, where every other local port drops them (knockSizedRule); a UDP service of
	// the host whose clients send datagrams that small belongs here.
	Public []protected.Service
	// NetNS is an open file descriptor of the network namespace to work in;
	// 0 means the caller's namespace.
	NetNS int
}

// maxTableName is NFT_NAME_MAXLEN less the terminating NUL.
const maxTableName = 255

// normalize fills defaults and checks the config, naming the bad field.
func (c Config) normalize() (Config, error) {
	if c.Table == "" {
		c.Table = DefaultTable
	}
	if len(c.Table) > maxTableName || strings.ContainsRune(c.Table, 0) {
		return c, fmt.Errorf("firewall config: Table %q: at most %d bytes and no NUL", c.Table, maxTableName)
	}
	if c.NetNS < 0 {
		return c, fmt.Errorf("firewall config: NetNS %d: not a file descriptor", c.NetNS)
	}
	for _, s := range c.Protected {
		if err := s.Validate(); err != nil {
			return c, fmt.Errorf("firewall config: Protected: %w", err)
		}
	}
	for _, s := range c.Public {
		if err := s.Validate(); err != nil {
			return c, fmt.Errorf("firewall config: Public: %w", err)
		}
		for _, p := range c.Protected {
			if p == s {
				return c, fmt.Errorf("firewall config: service %q is both Public and Protected", s.String())
			}
		}
	}
	return c, nil
}
