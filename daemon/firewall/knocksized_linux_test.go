package firewall

import (
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestKnockSizedSilentWithoutXDP: without stealth, a knock-sized datagram (payload 0..16 bytes)
// that reaches the stack draws no ICMP answer, whether its port is protected or unused. This lab
// has no XDP program at all, as on an interface hypd does not watch (or for a datagram XDP does
// not parse: an IPv4 fragment, IPv6 extension headers, double VLAN tags); before the
// knockSizedRule, the unused port answered with an ICMP port unreachable while the protected one
// stayed silent, which told a scanner the protected port apart. A longer datagram still draws the
// ICMP answer from both (so silence here is the rule's doing), and a public UDP service still
// gets its knock-sized datagrams.
func TestKnockSizedSilentWithoutXDP(t *testing.T) {
	const protectedUDP, unusedUDP, publicUDP = 3332, 3333, 3334
	p := newPair(t)
	echoUDP(t, p.gw, protectedUDP)
	echoUDP(t, p.gw, publicUDP)
	openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "udp", Port: protectedUDP}}, Public: []protected.Service{{Proto: "udp", Port: publicUDP}}})

	for _, tc := range []struct {
		name string
		gw   netip.Addr
	}{{"ipv4", gw4}, {"ipv6", gw6}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, port := range []uint16{unusedUDP, protectedUDP} {
				for _, n := range []int{0, 1, 16} {
					if err := udpProbeLen(t, p.cl, tc.gw, port, n); err == nil || !isTimeout(err) {
						t.Errorf("udp port %d, knock-sized datagram of %d bytes: %v, want no answer", port, n, err)
					}
				}
				if err := udpProbeLen(t, p.cl, tc.gw, port, 17); !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("udp port %d, 17 bytes: %v, want ICMP port unreachable (connection refused)", port, err)
				}
			}
			for _, n := range []int{1, 16} {
				if err := udpProbeLen(t, p.cl, tc.gw, publicUDP, n); err != nil {
					t.Errorf("public udp port, %d bytes: %v, want the service's echo", n, err)
				}
			}
		})
	}
	if r := chainRules(t, p.gw, "hyp", "input"); !slices.ContainsFunc(r, func(s string) bool { return strings.Contains(s, "udp length <= 24") }) {
		t.Errorf("input rules have no knock-sized drop:\n%s", strings.Join(r, "\n"))
	}
}

// echoUDP answers every datagram to port on ns (IPv4 and IPv6), so a reply proves the datagram
// got through; the socket closes when the test ends.
func echoUDP(t *testing.T, ns *testNS, port uint16) {
	t.Helper()
	var c net.PacketConn
	if err := ns.do(func() (err error) {
		c, err = net.ListenPacket("udp", netip.AddrPortFrom(netip.IPv6Unspecified(), port).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 1500)
		for {
			n, from, err := c.ReadFrom(b)
			if err != nil {
				return
			}
			c.WriteTo(b[:n], from)
		}
	}()
}
