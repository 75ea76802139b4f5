package detector

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/hideyourports/hyp/bpf"
)

// gatewayAddrs are the local addresses the Program.Run tests give the
// program: a WAN and a LAN address in each family.
var gatewayAddrs = []netip.Addr{addr("10.77.0.1"), addr("10.77.50.1"), addr("fd77::1"), addr("fd77:50::1")}

// Only datagrams to the gateway itself are judged: one to a host behind it,
// or to a broadcast or multicast group, passes untouched and is not seen.
// Both ways the program may know the addresses: in the settings (up to bpf.LocalInline) and in
// the map alone.
func TestLocalDestinationsOnly(t *testing.T) {
	for _, inline := range []bool{true, false} {
		t.Run(map[bool]string{true: "in the settings", false: "in the map"}[inline], func(t *testing.T) {
			testLocalDestinationsOnly(t, Config{LocalAddrs: gatewayAddrs, noInline: !inline})
		})
	}
	// More addresses than the settings hold: the map alone, with the filter on.
	many := slices.Clone(gatewayAddrs)
	for i := range bpf.LocalInline {
		many = append(many, netip.AddrFrom4([4]byte{10, 77, 51, byte(i + 1)}))
	}
	t.Run("more than fit in the settings", func(t *testing.T) {
		h := testLocalDestinationsOnly(t, Config{LocalAddrs: many})
		if n := h.d.settingsNow().LocalN; n != 0 {
			t.Errorf("LocalN = %d with %d addresses, want 0 (the map alone)", n, len(many))
		}
		f := frame{src: addr("10.77.0.2"), dst: many[len(many)-1], sport: 40000, dport: seqA.Ports[0]}
		if v := h.run(f.bytes()); v != xdpDrop {
			t.Errorf("datagram to the last of %d local addresses: verdict %d, want drop", len(many), v)
		}
	})
}

func testLocalDestinationsOnly(t *testing.T, cfg Config) *harness {
	h := newHarness(t, cfg)
	h.set(seqA)
	p := seqA.Ports[0]
	cases := []struct {
		name     string
		src, dst netip.Addr
		want     uint32
	}{
		{"to the WAN address", addr("10.77.0.2"), addr("10.77.0.1"), xdpDrop},
		{"to the LAN address", addr("10.77.0.2"), addr("10.77.50.1"), xdpDrop},
		{"v6 to the WAN address", addr("fd77::2"), addr("fd77::1"), xdpDrop},
		{"v6 to the LAN address", addr("fd77::2"), addr("fd77:50::1"), xdpDrop},
		{"forwarded to a LAN host", addr("10.77.0.2"), addr("10.77.50.2"), xdpPass},
		{"v6 forwarded to a LAN host", addr("fd77::2"), addr("fd77:50::2"), xdpPass},
		{"limited broadcast", addr("10.77.0.2"), addr("255.255.255.255"), xdpPass},
		{"subnet broadcast", addr("10.77.0.2"), addr("10.77.0.255"), xdpPass},
		{"multicast (mDNS)", addr("10.77.0.2"), addr("224.0.0.251"), xdpPass},
		{"v6 all-nodes multicast", addr("fe80::2"), addr("ff02::1"), xdpPass},
		{"v6 mDNS", addr("fd77::2"), addr("ff02::fb"), xdpPass},
		{"a v4-mapped destination of a local address", addr("fd77::2"), addr("::ffff:10.77.0.1"), xdpPass},
	}
	for _, c := range cases {
		before := h.counters().Seen
		f := frame{src: c.src, dst: c.dst, sport: 40000, dport: p, payload: 1}
		if v := h.run(f.bytes()); v != c.want {
			t.Errorf("%s (%v -> %v): verdict %d, want %d", c.name, c.src, c.dst, v, c.want)
		}
		seen := h.counters().Seen - before
		if want := map[uint32]uint64{xdpDrop: 1, xdpPass: 0}[c.want]; seen != want {
			t.Errorf("%s: seen went up by %d, want %d", c.name, seen, want)
		}
	}

	// A whole sequence forwarded to a LAN host completes nothing, and
	// leaves no progress behind for its source.
	src := addr("10.77.0.7")
	for _, port := range seqA.Ports {
		f := frame{src: src, dst: addr("10.77.50.2"), dport: port}
		if v := h.run(f.bytes()); v != xdpPass {
			t.Fatalf("forwarded knock-sized datagram to %d: verdict %d, want pass", port, v)
		}
	}
	h.wantCompletions(0)
	h.wantNoRecord()
	var pr bpf.Progress
	if err := h.d.objs.Sources.Lookup(addrKey(src), &pr); err == nil {
		t.Errorf("forwarded datagrams left progress for %v: %+v", src, pr)
	}
	// The same sequence to the gateway's LAN address completes.
	h.knock(src, seqA.Ports...)
	h.wantRecord(recordFor(src, seqA))
	return h
}

// Without a local-address list (a detector whose map is not filled yet) every
// destination is judged: failing safe for knocks.
func TestNoLocalAddrsJudgesEverything(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	f := frame{src: addr("10.77.0.2"), dst: addr("10.77.50.2"), dport: seqA.Ports[0]}
	if v := h.run(f.bytes()); v != xdpDrop {
		t.Errorf("unfiltered: verdict %d for a datagram to another host, want drop", v)
	}
}

// An IPv6 datagram from ::ffff:a.b.c.d is no real IPv6 host: it passes, is
// not seen, and neither advances nor resets the IPv4 address's progress.
func TestV4MappedSourcePasses(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	h.set(seqA)
	v4, mapped := addr("10.77.0.2"), addr("::ffff:10.77.0.2")
	send := func(src netip.Addr, port uint16) uint32 {
		return h.run(frame{src: src, dst: addr("fd77::1"), sport: 40000, dport: port}.bytes())
	}
	for _, port := range seqA.Ports {
		if v := send(mapped, port); v != xdpPass {
			t.Fatalf("v4-mapped source to %d: verdict %d, want pass", port, v)
		}
	}
	h.wantCompletions(0)
	h.wantNoRecord()
	if c := h.counters(); c.Seen != 0 {
		t.Errorf("v4-mapped datagrams counted: %+v", c)
	}

	// Interleaved with the real IPv4 source's knock: the mapped datagrams
	// neither complete it (p2, p3 from the mapped source) nor reset it
	// (a wrong port from the mapped source).
	h.knock(v4, seqA.Ports[0], seqA.Ports[1])
	send(mapped, seqA.Ports[2])
	send(mapped, seqA.Ports[3])
	h.wantCompletions(0)
	send(mapped, 9)
	h.knock(v4, seqA.Ports[2], seqA.Ports[3])
	h.wantRecord(recordFor(v4, seqA))
}

// A record naming a v4-mapped IPv6 source is never reported, whatever the
// kernel sends: the grant would open the IPv4 address.
func TestRecordNeverV4Mapped(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	h.d.mu.Lock()
	id := h.d.tab.slotOf(seqA.ident())
	gen := h.d.tab.slots[id].gen
	h.d.mu.Unlock()
	kr := bpf.Record{Family: bpf.FamilyV6, KeyId: seqA.KeyID, Window: seqA.Window, Counter: seqA.Counter, SeqId: id, Gen: gen}
	kr.Addr = addr("::ffff:10.77.0.2").As16()
	if rec, ok := h.d.validate(kr); ok {
		t.Errorf("v4-mapped record accepted: %+v", rec)
	}
	kr.Addr = addr("fd77::2").As16()
	if _, ok := h.d.validate(kr); !ok {
		t.Error("plain IPv6 record rejected")
	}
}
