// Package protected names what hypd protects: a protected service is one transport protocol and
// port ("tcp/22", "udp/51820") that hypd hides from everyone and opens for a source address
// after a valid knock. The word "service" in hypd's config, key files, flags and docs means
// this; the program the OS runs (hypd's systemd unit, the client helper) is a system service
// (daemon/sysservice). It is its own small package so that the config can name protected
// services without importing the firewall that programs them.
package protected

import (
	"fmt"
	"strconv"
	"strings"
)

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
