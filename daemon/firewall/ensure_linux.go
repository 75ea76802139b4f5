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

// Exists reports whether table (empty: DefaultTable) is in the inet family of the namespace
// netnsFD (0 = current).
func Exists(table string, netnsFD int) (bool, error) {
	cfg, err := Config{Table: table, NetNS: netnsFD}.normalize()
	if err != nil {
		return false, err
	}
	var opts []nftables.ConnOption
	if cfg.NetNS != 0 {
		opts = append(opts, nftables.WithNetNSFd(cfg.NetNS))
	}
	c, err := nftables.New(opts...)
	if err != nil {
		return false, fmt.Errorf("opening nftables netlink connection: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("listing tables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == cfg.Table }), nil
}
