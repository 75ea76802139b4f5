//go:build linux

package firewall

import (
	"errors"
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// Reconfigure makes the table match new protected and public services and stealth setting (a key
// file that names its own services was added or removed), in one atomic batch that keeps the
// grants, as Open does. The table name and namespace stay those Open was given.
func (f *Firewall) Reconfigure(protected, public []Service, stealth bool) error {
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

// Ensure puts the table back if something outside hypd deleted it — Debian's nftables.service
// starts with `flush ruleset`, and an admin may run it by hand — because without the table the
// protected services would be open to everyone while hypd still runs. It reports whether the
// table had to be rebuilt; the grants it held are gone with it.
func (f *Firewall) Ensure() (rebuilt bool, err error) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return false, errors.New("checking table: firewall closed")
	}
	tables, err := f.conn.ListTablesOfFamily(nftables.TableFamilyINet)
	name := f.table.Name
	f.mu.Unlock()
	if err != nil {
		return false, fmt.Errorf("listing tables: %w", err)
	}
	if slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == name }) {
		return false, nil
	}
	if err := f.reconcile(); err != nil {
		return true, fmt.Errorf("re-creating nftables table inet %s: %w", name, err)
	}
	return true, nil
}
