package firewall

import (
	"context"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/waitfor"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestWatchIgnoresGrants: grants, renewals and revokes (element changes in allow4 and allow6,
// hypd's own) and changes to another table wake no drift check, while an element deleted from
// the protected set from outside still does, at once, and is repaired.
func TestWatchIgnoresGrants(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh, wireguard}})
	ctx, cancel := context.WithCancel(context.Background())
	repaired := make(chan []string, 8)
	done := make(chan error, 1)
	go func() {
		done <- f.Watch(ctx, time.Hour, func(drift []string, err error) {
			if err != nil {
				t.Errorf("watch: %v", err)
			}
			repaired <- drift
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	waitfor.For(t, "the first check", 5*time.Second, func() bool { return f.Checks() >= 1 })
	base := f.Checks()

	const n = 100
	for i := range n {
		a := netip.AddrFrom4([4]byte{10, 77, byte(i >> 8), byte(i)})
		if i%2 == 1 {
			a = netip.AddrFrom16([16]byte{0xfd, 0x77, 15: byte(i)})
		}
		for range 2 { // a new grant, then its renewal
			if err := f.Allow(a, []protected.Service{ssh, wireguard}, time.Minute, "test"); err != nil {
				t.Fatal(err)
			}
		}
		if i%10 == 0 {
			if _, err := f.Revoke(a); err != nil {
				t.Fatal(err)
			}
		}
	}
	ns.run(t, "nft", "add table inet other; add set inet other s { type ipv4_addr; }; add element inet other s { 10.77.9.9 }; delete table inet other")
	// Each of those changes was notified before its command returned; had any of them woken the
	// watcher, it would check within milliseconds.
	waitfor.Until(time.Second, func() bool { return f.Checks() != base })
	if got := f.Checks() - base; got != 0 {
		t.Errorf("%d grants, %d renewals, %d revokes and another table's changes caused %d drift checks, want none", n, n, n/10, got)
	}

	ns.run(t, "nft", "delete", "element", "inet", "hyp", "protected", "{ tcp . 22 }")
	select {
	case d := <-repaired:
		t.Logf("repaired %v", d)
	case <-time.After(5 * time.Second):
		t.Fatal("an element deleted from the protected set was not repaired within 5s")
	}
	if d, err := f.Drift(); err != nil || len(d) != 0 {
		t.Errorf("after the repair: drift %v, %v", d, err)
	}
	if g := grantsOf(t, f); len(g) != 2*(n-n/10) {
		t.Errorf("%d grants after the repair, want %d", len(g), 2*(n-n/10))
	}
}

// elemMsg is a set element notification as the kernel sends it.
func elemMsg(t *testing.T, typ int, family byte, table, set string) netlink.Message {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	ae.String(unix.NFTA_SET_ELEM_LIST_TABLE, table)
	ae.String(unix.NFTA_SET_ELEM_LIST_SET, set)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | typ)},
		Data:   append([]byte{family, unix.NFNETLINK_V0, 0, 0}, b...),
	}
}

func TestWeakens(t *testing.T) {
	rule := func(table string) netlink.Message {
		ae := netlink.NewAttributeEncoder()
		ae.String(unix.NFTA_RULE_TABLE, table)
		ae.String(unix.NFTA_RULE_CHAIN, "input")
		b, _ := ae.Encode()
		return netlink.Message{
			Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELRULE)},
			Data:   append([]byte{unix.NFPROTO_INET, unix.NFNETLINK_V0, 0, 0}, b...),
		}
	}
	for _, c := range []struct {
		what string
		m    netlink.Message
		want bool
	}{
		{"grant added", elemMsg(t, unix.NFT_MSG_NEWSETELEM, unix.NFPROTO_INET, "hyp", setAllow4), false},
		{"grant deleted", elemMsg(t, unix.NFT_MSG_DELSETELEM, unix.NFPROTO_INET, "hyp", setAllow6), false},
		{"protected element deleted", elemMsg(t, unix.NFT_MSG_DELSETELEM, unix.NFPROTO_INET, "hyp", setProtected), true},
		{"public element added", elemMsg(t, unix.NFT_MSG_NEWSETELEM, unix.NFPROTO_INET, "hyp", setPublic), true},
		{"element of another table", elemMsg(t, unix.NFT_MSG_DELSETELEM, unix.NFPROTO_INET, "fail2ban", setProtected), false},
		{"element of a table of another family", elemMsg(t, unix.NFT_MSG_DELSETELEM, unix.NFPROTO_IPV4, "hyp", setProtected), false},
		{"rule deleted", rule("hyp"), true},
		{"rule of another table deleted", rule("filter"), false},
		{"unreadable", netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELRULE)}, Data: []byte{1}}, true},
		{"generation", netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWGEN)}, Data: []byte{0, 0, 0, 0}}, false},
	} {
		if got := weakens(c.m, "hyp"); got != c.want {
			t.Errorf("%s: weakens = %v, want %v", c.what, got, c.want)
		}
	}
}
