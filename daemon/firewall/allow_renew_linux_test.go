package firewall

import (
	"bytes"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestAllowOneMessage: where the kernel renews in place, a grant is one NEWSETELEM message in
// its batch, holding every service's element with the ttl.
func TestAllowOneMessage(t *testing.T) {
	rec := &recorder{}
	conn, err := nftables.New(nftables.WithTestDial(rec.dial))
	if err != nil {
		t.Fatal(err)
	}
	f := &Firewall{cfg: Config{Table: "hyp"}, conn: conn, table: &nftables.Table{Name: "hyp", Family: nftables.TableFamilyINet}, renewInPlace: true}
	f.allow4, f.allow6 = f.allowSet(false), f.allowSet(true)
	if err := f.Allow(netip.MustParseAddr("10.77.1.2"), []protected.Service{ssh, wireguard}, 90*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	newElem := netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM)
	want := []netlink.HeaderType{unix.NFNL_MSG_BATCH_BEGIN, newElem, unix.NFNL_MSG_BATCH_END}
	if len(rec.msgs) != len(want) {
		t.Fatalf("sent %d messages, want %d (begin, one element list, end)", len(rec.msgs), len(want))
	}
	for i, m := range rec.msgs {
		if m.Header.Type != want[i] {
			t.Errorf("message %d type %#x, want %#x", i, m.Header.Type, want[i])
		}
	}
	table, set, elems := decodeElems(t, rec.msgs[1])
	if table != "hyp" || set != setAllow4 || len(elems) != 2 {
		t.Fatalf("element list for %s/%s with %d elements, want hyp/allow4 with 2", table, set, len(elems))
	}
	for i, k := range [][]byte{{10, 77, 1, 2, 6, 0, 0, 0, 0, 22, 0, 0}, {10, 77, 1, 2, 17, 0, 0, 0, 0xca, 0x6c, 0, 0}} {
		if !bytes.Equal(elems[i].key, k) || elems[i].timeout != 90000 {
			t.Errorf("element %d: key % x timeout %dms, want % x and 90000", i, elems[i].key, elems[i].timeout, k)
		}
	}
}

// TestAllowRenewsBothWays: a renewal gives the grant the new time left, longer or shorter, both
// by one add (on a kernel that renews in place, as open found out) and by the add, delete, add
// older kernels need; and the probe leaves no element behind.
func TestAllowRenewsBothWays(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh, wireguard}})
	t.Logf("this kernel renews in place: %v", f.renewInPlace)
	if g := grantsOf(t, f); len(g) != 0 {
		t.Fatalf("grants after Open: %v, want none (the renewal probe must not stay)", g)
	}
	a := netip.MustParseAddr("10.77.1.2")
	for _, inPlace := range []bool{f.renewInPlace, false} {
		f.mu.Lock()
		f.renewInPlace = inPlace
		f.mu.Unlock()
		for _, ttl := range []time.Duration{10 * time.Second, 100 * time.Second, 5 * time.Second} {
			if err := f.Allow(a, []protected.Service{ssh}, ttl, "test"); err != nil {
				t.Fatal(err)
			}
			if left := grantsOf(t, f)["10.77.1.2 tcp/22"]; left > ttl || left < ttl-time.Second {
				t.Errorf("in place %v: renewed to %v, %v left", inPlace, ttl, left)
			}
		}
		if _, err := f.Revoke(a); err != nil {
			t.Fatal(err)
		}
	}
}
