// Package gateway assembles a running hypd: it opens the firewall, the detector and the spent
// state, wires them to a server, and closes them in reverse order. It is the one place that knows
// which kernel handles exist and who owns them.
package gateway

import (
	"github.com/hideyourports/hyp/daemon/protected"
	"log/slog"
	"sort"

	"github.com/hideyourports/hyp/daemon/config"
)

// Options are what a run needs beyond the configuration.
type Options struct {
	Logger *slog.Logger
	// Level, if set, is the logger's level: a reload that changes log_level sets it.
	Level *slog.LevelVar
	// ControlSocket is the path of the status socket; empty disables it.
	ControlSocket string
	// Reload asks for the configuration to be read again (the command layer sends on SIGHUP);
	// LoadConfig reads it, flags laid over the file as at start. Without LoadConfig a reload
	// reads the keys only.
	Reload     <-chan struct{}
	LoadConfig func() (config.Config, error)
	// Running, if set, is called once hypd runs: it holds the instance lock, its table is in
	// place and its state directory works. What only a running hypd may record goes there.
	Running func()
}

// udpPorts lists the UDP ports the detector must never treat as knocks: a WireGuard endpoint or a
// public DNS server sends small datagrams that are traffic, not knocks.
func udpPorts(svcs ...[]protected.Service) []uint16 {
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
