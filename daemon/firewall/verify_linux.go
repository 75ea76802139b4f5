//go:build linux

package firewall

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"slices"
	"sort"
	"time"

	"github.com/google/nftables"
)

// Drift lists every way the kernel's table differs from what this Firewall last built: the
// table, a chain or a set missing or changed, a rule deleted, added, reordered or replaced, an
// element missing from or added to the protected or public set. Any of these can open a protected
// service (`nft flush table inet hyp`, `nft flush set inet hyp protected`, `nft delete rule ...`),
// so the caller repairs on any drift. Grants (the allow sets' elements) are not compared: they
// come and go by themselves, and one that someone deletes only closes access.
func (f *Firewall) Drift() ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, errors.New("checking table: firewall closed")
	}
	drift, err := f.driftLocked()
	if err != nil {
		// Mostly an object deleted between two reads (ENOENT, as `nft flush ruleset` runs): a
		// table that cannot be read back whole is treated as drift, and rebuilt.
		return []string{"table inet " + f.table.Name + " could not be read back: " + err.Error()}, nil
	}
	return drift, nil
}

func (f *Firewall) driftLocked() ([]string, error) {
	f.checks.Add(1)
	c := f.conn
	name := f.table.Name
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("listing tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == name }) {
		return []string{"table inet " + name + " is missing"}, nil
	}
	var drift []string

	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("listing chains: %w", err)
	}
	have := map[string]*nftables.Chain{}
	for _, ch := range chains {
		if ch.Table != nil && ch.Table.Name == name {
			have[ch.Name] = ch
		}
	}
	for _, cn := range chainNames() {
		want := f.chain(cn)
		ch, ok := have[cn]
		delete(have, cn)
		switch {
		case !ok:
			drift = append(drift, "chain "+cn+" is missing")
			continue
		case !sameChain(ch, want):
			drift = append(drift, "chain "+cn+" has another hook, priority or type")
			continue
		case ch.Policy == nil || *ch.Policy != *want.Policy:
			drift = append(drift, "chain "+cn+" has another policy")
		}
		if f.raw == nil {
			continue // a test connection: no kernel to read rules back from
		}
		rules, err := dumpRules(f.raw, name, cn)
		if err != nil {
			return nil, err
		}
		golden := f.golden[cn]
		if len(rules) != len(golden) {
			drift = append(drift, fmt.Sprintf("chain %s has %d rules, want %d", cn, len(rules), len(golden)))
			continue
		}
		for i, r := range rules {
			if r.shape != golden[i] {
				drift = append(drift, fmt.Sprintf("chain %s: rule %d was changed", cn, i+1))
			}
		}
	}
	for cn := range have {
		drift = append(drift, "chain "+cn+" is not hypd's")
	}

	sets, err := c.GetSets(f.table)
	if err != nil {
		return nil, fmt.Errorf("listing sets: %w", err)
	}
	haveSets := map[string]*nftables.Set{}
	for _, s := range sets {
		haveSets[s.Name] = s
	}
	for _, x := range []struct {
		want  *nftables.Set
		elems []protected.Service
	}{
		{f.allow4, nil}, {f.allow6, nil},
		{f.serviceSet(setProtected), f.cfg.Protected}, {f.serviceSet(setPublic), f.cfg.Public},
	} {
		s, ok := haveSets[x.want.Name]
		delete(haveSets, x.want.Name)
		if !ok {
			drift = append(drift, "set "+x.want.Name+" is missing")
			continue
		}
		if !sameSet(s, x.want) {
			drift = append(drift, "set "+x.want.Name+" has another type")
			continue
		}
		if x.want.Name == setAllow4 || x.want.Name == setAllow6 {
			continue
		}
		elems, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("listing set %s: %w", s.Name, err)
		}
		got := make([]string, 0, len(elems))
		for _, e := range elems {
			got = append(got, hex.EncodeToString(e.Key))
		}
		want := make([]string, 0, len(x.elems))
		for _, svc := range x.elems {
			k, err := serviceKey(svc)
			if err != nil {
				return nil, err
			}
			want = append(want, hex.EncodeToString(k))
		}
		sort.Strings(got)
		sort.Strings(want)
		if !slices.Equal(got, want) {
			drift = append(drift, fmt.Sprintf("set %s holds %d elements, want %d of hypd's", s.Name, len(got), len(want)))
		}
	}
	for sn := range haveSets {
		drift = append(drift, "set "+sn+" is not hypd's")
	}
	sort.Strings(drift)
	return drift, nil
}

// Repair checks the table for drift and, if there is any, rebuilds it in one atomic batch that
// keeps the grants (as Open does; grants are lost only with a deleted table or allow set). It
// returns the drift it found, empty when the table was intact.
func (f *Firewall) Repair() ([]string, error) {
	drift, err := f.Drift()
	if err != nil || len(drift) == 0 {
		return drift, err
	}
	if err := f.reconcile(); err != nil {
		return drift, fmt.Errorf("repairing nftables table inet %s: %w", f.table.Name, err)
	}
	return drift, nil
}

// Watch keeps the table as hypd built it until ctx ends: it listens for nftables change
// notifications and checks for drift after every burst of them that could have weakened the table
// (see monitor: grants do not wake it), and also every interval (in case a notification is lost:
// the netlink socket overflows under a flood of changes). report, if not nil, hears of every
// repair (drift non-empty) and every failure to check or repair. A missed notification is never a
// hole: the next interval catches it.
func (f *Firewall) Watch(ctx context.Context, interval time.Duration, report func(drift []string, err error)) error {
	if interval <= 0 {
		return fmt.Errorf("watching table: interval %v is not positive", interval)
	}
	if report == nil {
		report = func([]string, error) {}
	}
	check := func() {
		drift, err := f.Repair()
		if len(drift) > 0 || err != nil {
			report(drift, err)
		}
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for ctx.Err() == nil {
		changes, stop, err := f.monitor()
		if err != nil {
			report(nil, fmt.Errorf("subscribing to nftables changes (checking every %v instead): %w", interval, err))
		}
		// Whatever happened before the subscription (or while it was being re-made) is caught here.
		check()
		for changes != nil {
			select {
			case <-ctx.Done():
				stop()
				return nil
			case <-tick.C:
				check()
			case _, ok := <-changes:
				if !ok {
					changes = nil // the subscription ended: subscribe again and check everything
					break
				}
				check()
			}
		}
		stop()
		if err != nil {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
		}
	}
	return nil
}

// Checks returns how many drift checks (full reads of the table) the firewall has made: by
// Drift, Repair and Watch.
func (f *Firewall) Checks() uint64 { return f.checks.Load() }
