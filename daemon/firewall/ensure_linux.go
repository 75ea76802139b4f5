//go:build linux

package firewall

import (
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
)

// Reconfigure makes the table match new protected and public services and stealth setting (a key
// file that names its own services was added or removed), in one atomic batch that keeps the
// grants, as Open does. The table name and namespace stay those Open was given.
func (f *Firewall) Reconfigure(protected, public []protected.Service, stealth bool) error {
	f.mu.Lock()
	cfg := f.cfg
	f.mu.Unlock()
	cfg.Protected, cfg.Public, cfg.Stealth = protected, public, stealth
	cfg, err := cfg.normalize()
	if err != nil {
		return err
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return errors.New("reconfiguring: firewall closed")
	}
	f.cfg = cfg
	f.mu.Unlock()
	if err := f.reconcile(); err != nil {
		return fmt.Errorf("reconfiguring nftables table inet %s: %w", cfg.Table, err)
	}
	return nil
}
