// Package gateway assembles a running hypd: it opens the firewall, the detector and the spent
// state, wires them to a server, and closes them in reverse order. It is the one place that knows
// which kernel handles exist and who owns them.
package gateway

import (
	"log/slog"
	"sort"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/firewall"
)

// Table is the nftables table (family inet) hypd owns; it deletes no other.
const Table = "hyp"

// Options are what a run needs beyond the configuration.
type Options struct {
	Logger *slog.Logger
	// ControlSocket is the path of the status socket; empty disables it.
	ControlSocket string
}

// protectedServices is every service hypd hides: the configured ones and any that a key file
// adds for its own agent.
func protectedServices(cfg config.Config, keys []config.Key) []firewall.Service {
	seen := map[firewall.Service]bool{}
	var out []firewall.Service
	add := func(svcs []firewall.Service) {
		for _, s := range svcs {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	add(cfg.Services)
	for _, k := range keys {
		add(k.Services)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Proto != out[j].Proto {
			return out[i].Proto < out[j].Proto
		}
		return out[i].Port < out[j].Port
	})
	return out
}

// udpPorts lists the UDP ports the detector must never treat as knocks: a WireGuard endpoint or a
// public DNS server sends small datagrams that are traffic, not knocks.
func udpPorts(svcs ...[]firewall.Service) []uint16 {
	seen := map[uint16]bool{}
	var out []uint16
	for _, list := range svcs {
		for _, s := range list {
			if s.Proto == "udp" && !seen[s.Port] {
				seen[s.Port] = true
				out = append(out, s.Port)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
