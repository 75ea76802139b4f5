//go:build !linux

package firewall

import (
	"context"
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"time"
)

// errUnsupported is returned everywhere but Linux: the firewall is nftables.
var errUnsupported = errors.New("firewall: nftables needs Linux")

// Firewall is unavailable on this platform.
type Firewall struct{}

// Open always fails on this platform.
func Open(cfg Config) (*Firewall, error) { return nil, errUnsupported }

// Allow always fails on this platform.
func (f *Firewall) Allow(addr netip.Addr, svcs []protected.Service, ttl time.Duration, key string) error {
	return errUnsupported
}

// Revoke always fails on this platform.
func (f *Firewall) Revoke(addr netip.Addr) (int, error) { return 0, errUnsupported }

// Grants always fails on this platform.
func (f *Firewall) Grants() ([]Grant, error) { return nil, errUnsupported }

// Close does nothing on this platform.
func (f *Firewall) Close() error { return nil }

// Cleanup always fails on this platform.
func Cleanup(table string, netnsFD int) error { return errUnsupported }

// Reconfigure always fails on this platform.
func (f *Firewall) Reconfigure(hidden, public []protected.Service, stealth bool) error {
	return errUnsupported
}

// Drift always fails on this platform.
func (f *Firewall) Drift() ([]string, error) { return nil, errUnsupported }

// Repair always fails on this platform.
func (f *Firewall) Repair() ([]string, error) { return nil, errUnsupported }

// Watch always fails on this platform.
func (f *Firewall) Watch(ctx context.Context, interval time.Duration, report func([]string, error)) error {
	return errUnsupported
}

// Checks is always 0 on this platform.
func (f *Firewall) Checks() uint64 { return 0 }
