package firewall

import (
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkAllow measures one grant through netlink into a real kernel set
// (in a throwaway namespace): "new" adds a fresh address each time, "renew"
// renews the same one, "grants" lists a set of 1000 grants.
func BenchmarkAllow(b *testing.B) {
	ns := newNS(b)
	f, err := Open(Config{Protected: []protected.Service{ssh}, NetNS: ns.fd})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	svcs := []protected.Service{ssh, wireguard}
	b.Run("new", func(b *testing.B) {
		i := uint32(0)
		for b.Loop() {
			i++
			a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
			if err := f.Allow(a, svcs, time.Minute, "test"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("renew", func(b *testing.B) {
		a := netip.MustParseAddr("fd77:1::2")
		for b.Loop() {
			if err := f.Allow(a, svcs, time.Minute, "test"); err != nil {
				b.Fatal(err)
			}
		}
	})
	if err := Cleanup("", ns.fd); err != nil {
		b.Fatal(err)
	}
	f2, err := Open(Config{Protected: []protected.Service{ssh}, NetNS: ns.fd})
	if err != nil {
		b.Fatal(err)
	}
	defer f2.Close()
	for i := range 1000 {
		if err := f2.Allow(netip.AddrFrom4([4]byte{10, 77, byte(i >> 8), byte(i)}), []protected.Service{ssh}, time.Minute, "test"); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("grants1000", func(b *testing.B) {
		for b.Loop() {
			if g, err := f2.Grants(); err != nil || len(g) != 1000 {
				b.Fatal(len(g), err)
			}
		}
	})
}
