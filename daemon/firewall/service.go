package firewall

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DefaultTable is the name of the inet table hypd owns when Config.Table is empty.
const DefaultTable = "hyp"

// Service is one transport protocol and port, as "tcp/22" or "udp/51820".
type Service struct {
	Proto string // "tcp" or "udp"
	Port  uint16
}

// String returns the service as "proto/port".
func (s Service) String() string {
	return s.Proto + "/" + strconv.Itoa(int(s.Port))
}

// JoinServices formats svcs as a config would list them: "tcp/22,udp/51820".
func JoinServices(svcs []Service) string {
	parts := make([]string, len(svcs))
	for i, s := range svcs {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// Validate reports whether s names a protocol the firewall can match and a
// port other than 0.
func (s Service) Validate() error {
	if s.Proto != "tcp" && s.Proto != "udp" {
		return fmt.Errorf("service %q: protocol must be tcp or udp", s.String())
	}
	if s.Port == 0 {
		return fmt.Errorf("service %q: port must be 1..65535", s.String())
	}
	return nil
}

// MarshalText writes the service as "proto/port", so it can sit in config files.
func (s Service) MarshalText() ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return []byte(s.String()), nil
}

// UnmarshalText parses "proto/port" as ParseService does.
func (s *Service) UnmarshalText(text []byte) error {
	v, err := ParseService(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseService parses one "tcp/22" or "udp/51820". The protocol is not case
// sensitive; surrounding spaces are ignored.
func ParseService(text string) (Service, error) {
	item := strings.TrimSpace(text)
	proto, port, ok := strings.Cut(item, "/")
	if !ok {
		return Service{}, fmt.Errorf("service %q: want PROTO/PORT such as tcp/22", item)
	}
	proto = strings.ToLower(strings.TrimSpace(proto))
	n, err := strconv.ParseUint(strings.TrimSpace(port), 10, 16)
	if err != nil || n == 0 {
		return Service{}, fmt.Errorf("service %q: port must be a number 1..65535", item)
	}
	s := Service{Proto: proto, Port: uint16(n)}
	if err := s.Validate(); err != nil {
		return Service{}, err
	}
	return s, nil
}

// ParseServices parses a comma-separated list such as "tcp/22,udp/51820".
// An empty list is valid. The error names the first bad or repeated item.
func ParseServices(list string) ([]Service, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	var out []Service
	for i, item := range strings.Split(list, ",") {
		s, err := ParseService(item)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i+1, err)
		}
		for _, prev := range out {
			if prev == s {
				return nil, fmt.Errorf("item %d: service %q listed twice", i+1, s.String())
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Grant is one open (source address, service) pair and the time it has left.
type Grant struct {
	Addr    netip.Addr
	Service Service
	Expires time.Duration // time left until the kernel drops the grant
	Key     string        // name of the key that granted (the element's comment)
}

// Config selects the table and what it protects.
type Config struct {
	// Table is the name of the inet table hypd owns; empty means DefaultTable.
	// Tests use their own name or namespace.
	Table string
	// Protected services are dropped unless the source holds a grant.
	Protected []Service
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
	Public []Service
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
