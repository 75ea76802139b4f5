//go:build !linux

package firewall

import (
	"errors"
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
func (f *Firewall) Allow(addr netip.Addr, svcs []Service, ttl time.Duration, key string) error {
	return errUnsupported
}

// Revoke always fails on this platform.
func (f *Firewall) Revoke(addr netip.Addr) error { return errUnsupported }

// Grants always fails on this platform.
func (f *Firewall) Grants() ([]Grant, error) { return nil, errUnsupported }

// Close does nothing on this platform.
func (f *Firewall) Close() error { return nil }

// Cleanup always fails on this platform.
func Cleanup(table string, netnsFD int) error { return errUnsupported }

// Reconfigure always fails on this platform.
func (f *Firewall) Reconfigure(protected, public []Service, stealth bool) error {
	return errUnsupported
}

// Ensure always fails on this platform.
func (f *Firewall) Ensure() (bool, error) { return false, errUnsupported }
