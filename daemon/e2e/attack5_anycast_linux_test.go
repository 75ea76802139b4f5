package e2e

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The fifth attacker review. Promise 1: no probe answer may depend on what is protected. On a
// gateway that forwards IPv6 (a router: net.ipv6.conf.*.forwarding=1) the kernel gives each
// interface the subnet-router anycast address of each of its prefixes (fd77:N:: here). It is
// delivered locally, but it is no interface address: the XDP program's local-address filter
// (rtnetlink addresses) judges a datagram to it "not the gateway's" and passes it, and the
// input chain's knock-sized rule (`fib daddr type local`) does not match it either (its type
// is anycast). So a knock-sized datagram to an unused UDP port there draws the kernel's ICMPv6
// port unreachable, while one to a protected UDP port is dropped by the protected rule:
// silence marks every protected UDP port (a WireGuard port, say) to anyone on the internet.
func TestAttack5AnycastProbeShowsProtectedUDPPorts(t *testing.T) {
	const wg = 51820
	g := newGateway(t, 153)
	l := g.lab
	if _, err := l.Gateway.Output("sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"); err != nil {
		t.Fatal(err)
	}
	g.newKey("laptop", l.GatewayIP())
	g.start("--services", fmt.Sprintf("tcp/%d,udp/%d", servicePort, wg))
	// fd77:N::1/64 on the gateway: its subnet-router anycast address is fd77:N::.
	anycast := netip.PrefixFrom(l.GatewayIP6(), 64).Masked().Addr()
	if out, _ := l.Gateway.Output("ip", "-6", "route", "show", "table", "local"); !strings.Contains(string(out), "anycast "+anycast.String()) {
		t.Fatalf("no anycast %v on the gateway:\n%s", anycast, out)
	}
	mac, err := l.Gateway.MAC()
	if err != nil {
		t.Fatal(err)
	}
	filter := fmt.Sprintf("ether src %s and ip6 and dst host %s and icmp6 and ip6[40] == 1", mac, l.AttackerIP6())
	answered := func(port uint16) bool {
		c := startCapture(t, l.Attacker, filter)
		send(t, l.Attacker, netip.Addr{}, anycast, []byte{0}, port)
		time.Sleep(700 * time.Millisecond)
		return len(c.stop(t)) > 0
	}
	unused := answered(40000)
	protectedUDP := answered(wg)
	t.Logf("knock-sized datagram to [%v]: unused udp/40000 drew ICMPv6 unreachable: %v; protected udp/%d: %v", anycast, unused, wg, protectedUDP)
	if unused != protectedUDP {
		t.Errorf("a knock-sized datagram to the gateway's subnet-router anycast address [%v] tells protected from unused UDP ports: unused udp/40000 answered %v, protected udp/%d answered %v", anycast, unused, wg, protectedUDP)
	}
	if unused {
		t.Errorf("a knock-sized datagram to [%v]:40000 drew an ICMPv6 port unreachable; to the gateway's unicast addresses it draws nothing", anycast)
	}

	// TCP: a SYN to the protected port there is answered by the input chain's reject (an RST),
	// one to an unused port not at all (the kernel sends no RST to an anycast address).
	rst := func(port uint16) string {
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and ip6 and tcp", mac))
		ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
		defer cancel()
		if conn, err := l.Attacker.Dial(ctx, "tcp6", netip.AddrPortFrom(anycast, port), netip.Addr{}); err == nil {
			conn.Close()
		}
		return strings.Join(c.stop(t), "\n")
	}
	unusedTCP, protectedTCP := rst(40001), rst(servicePort)
	t.Logf("SYN to [%v]: unused tcp/40001 drew %q; protected tcp/%d drew %q", anycast, unusedTCP, servicePort, protectedTCP)
	if (unusedTCP == "") != (protectedTCP == "") {
		t.Errorf("a SYN to [%v] tells protected from unused TCP ports: unused tcp/40001 drew %q, protected tcp/%d drew %q", anycast, unusedTCP, servicePort, protectedTCP)
	}
}
