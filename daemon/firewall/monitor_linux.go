//go:build linux

package firewall

import (
	"errors"
	"fmt"
	"sync"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// monitorReadBuffer is the receive buffer asked for the notification socket. Every grant still
// reaches it (the kernel cannot filter by set) before it is ignored; a larger buffer makes an
// overflow, which costs a full check, rarer under a burst of grants.
const monitorReadBuffer = 1 << 20

// monitor subscribes, on a netlink socket of its own in the firewall's namespace, to nftables'
// change notifications, and sends on the returned channel whenever one might have weakened the
// table: a change of the table itself, of its chains, rules or sets, or of the elements of the
// protected or public set (`nft flush set inet hyp protected` opens every service). Sends are
// coalesced: one pending signal covers any number of changes, so a burst costs one check.
//
// Not signalled: changes in other tables, which cannot undo a drop or reject of ours, and
// element changes in allow4/allow6. Those are grants: hypd's own Allow and Revoke, and the
// kernel's expiries, all day long. Drift never compared them, so a check could find nothing;
// waking one for each grant made every grant pay a full dump of the table, under the lock the
// next grant waits for.
//
// The channel is closed when the subscription ends (stop, or a socket error); an overflow of the
// socket (ENOBUFS: notifications were lost) is signalled as a change, so the lost ones are
// checked too. stop ends the subscription and waits for its reader.
func (f *Firewall) monitor() (<-chan struct{}, func(), error) {
	f.mu.Lock()
	netnsFD := f.cfg.NetNS // Reconfigure replaces cfg, though never its namespace
	f.mu.Unlock()
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, &netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, func() {}, fmt.Errorf("opening nftables notification socket: %w", err)
	}
	if err := c.JoinGroup(unix.NFNLGRP_NFTABLES); err != nil {
		return nil, func() {}, errors.Join(fmt.Errorf("subscribing to nftables notifications: %w", err), c.Close())
	}
	// A smaller buffer only makes overflows likelier, which are caught anyway.
	_ = c.SetReadBuffer(monitorReadBuffer)

	changes := make(chan struct{}, 1)
	signal := func() {
		select {
		case changes <- struct{}{}:
		default:
		}
	}
	// stopped is set by stop before it closes the socket, so the reader takes the error the close
	// causes for the end it is. Guarded by mu.
	var (
		mu      sync.Mutex
		stopped bool
		done    = make(chan struct{})
	)
	table := f.table.Name
	go func() {
		defer close(done)
		defer close(changes)
		for {
			msgs, err := c.Receive()
			if err != nil {
				mu.Lock()
				s := stopped
				mu.Unlock()
				if !s && errors.Is(err, unix.ENOBUFS) {
					signal()
					continue
				}
				return
			}
			for _, m := range msgs {
				if weakens(m, table) {
					signal()
				}
			}
		}
	}()
	stop := func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		_ = c.Close()
		<-done
	}
	return changes, stop, nil
}

// weakens reports whether one nftables notification could have weakened the inet table named
// table: anything about it, except an element added to or deleted from a grant set. Every
// nftables object message (table, chain, rule, set, set element list, object, flowtable) names
// its table in its first attribute; a message that cannot be read counts as a change.
func weakens(m netlink.Message, table string) bool {
	if m.Header.Type>>8 != unix.NFNL_SUBSYS_NFTABLES {
		return false
	}
	typ := m.Header.Type & 0xff
	if typ == unix.NFT_MSG_NEWGEN {
		return false // ends every batch; the changes came before it
	}
	if len(m.Data) < 4 {
		return true
	}
	if m.Data[0] != unix.NFPROTO_INET {
		return false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		return true
	}
	var name, set string
	for ad.Next() {
		switch ad.Type() {
		case 1: // NFTA_TABLE_NAME, NFTA_CHAIN_TABLE, NFTA_RULE_TABLE, NFTA_SET_TABLE, NFTA_SET_ELEM_LIST_TABLE, ...
			name = ad.String()
		case unix.NFTA_SET_ELEM_LIST_SET: // only read for element lists below
			set = ad.String()
		}
	}
	if ad.Err() != nil {
		return true
	}
	if name != table {
		return false
	}
	if typ == unix.NFT_MSG_NEWSETELEM || typ == unix.NFT_MSG_DELSETELEM {
		return set != setAllow4 && set != setAllow6
	}
	return true
}
