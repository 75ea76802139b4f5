//go:build linux

package commands

import (
	"fmt"
	"slices"

	"github.com/google/nftables"
)

// tableExists reports whether this network namespace has the nftables table inet name, so that
// cleanup says "deleted" only of a table that was there.
func tableExists(name string) (bool, error) {
	c, err := nftables.New()
	if err != nil {
		return false, fmt.Errorf("opening nftables netlink connection: %w", err)
	}
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return false, fmt.Errorf("listing nftables tables: %w", err)
	}
	return slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == name }), nil
}
