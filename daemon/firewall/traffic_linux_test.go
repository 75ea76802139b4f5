package firewall

import (
	"bufio"
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// probeTimeout bounds a connection attempt; on a veth an answer takes
// microseconds, so running out of it means the packet was dropped.
const probeTimeout = 400 * time.Millisecond

// pair is the gateway and the client of a lab (netlab, subnet 1):
// gateway 10.77.1.1 / fd77:1::1, client 10.77.1.2 / fd77:1::2.
type pair struct {
	lab    *netlab.Lab
	gw, cl *testNS
}

func newPair(t *testing.T) pair {
	t.Helper()
	needRoot(t)
	l := netlab.TempLab(t, uniqueName(), 1)
	p := pair{lab: l, gw: inLab(t, l.Gateway), cl: inLab(t, l.Client)}
	p.gw.waitLinkUp(t, netlab.Iface)
	p.cl.waitLinkUp(t, netlab.Iface)
	return p
}

var (
	gw4 = netip.MustParseAddr("10.77.1.1")
	gw6 = netip.MustParseAddr("fd77:1::1")
	cl4 = netip.MustParseAddr("10.77.1.2")
	cl6 = netip.MustParseAddr("fd77:1::2")
)

// TestPairAddresses: the addresses the traffic tests use are the lab's.
func TestPairAddresses(t *testing.T) {
	p := newPair(t)
	for _, c := range []struct{ got, want netip.Addr }{
		{p.lab.GatewayIP(), gw4}, {p.lab.GatewayIP6(), gw6}, {p.lab.ClientIP(), cl4}, {p.lab.ClientIP6(), cl6},
	} {
		if c.got != c.want {
			t.Errorf("lab address %v, the tests use %v", c.got, c.want)
		}
	}
}

// dial connects from ns; the error tells a drop (timeout) from a refusal.
func dial(t *testing.T, ns *testNS, to netip.Addr, port uint16) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := ns.do(func() (err error) {
		d := net.Dialer{Timeout: probeTimeout}
		c, err = d.Dial("tcp", netip.AddrPortFrom(to, port).String())
		return err
	})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func mustDrop(t *testing.T, ns *testNS, to netip.Addr, port uint16, why string) {
	t.Helper()
	c, err := dial(t, ns, to, port)
	if err == nil {
		c.Close()
		t.Errorf("%s: connect to %s port %d succeeded, want it dropped", why, to, port)
	} else if !isTimeout(err) {
		t.Errorf("%s: connect to %s port %d: %v, want a timeout (silent drop)", why, to, port, err)
	}
}

func mustConnect(t *testing.T, ns *testNS, to netip.Addr, port uint16, why string) net.Conn {
	t.Helper()
	c, err := dial(t, ns, to, port)
	if err != nil {
		t.Fatalf("%s: connect to %s port %d: %v", why, to, port, err)
	}
	echo(t, c, why)
	return c
}

// echo proves a connection still carries data both ways.
func echo(t *testing.T, c net.Conn, why string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		t.Fatalf("%s: write: %v", why, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ping\n" {
		t.Fatalf("%s: echo: %q, %v", why, line, err)
	}
}

// TestTrafficGrantAndExpiry: a protected port is refused like an unused one
// until Allow, open after it, and once the grant expires new connections are refused while
// the one made in time keeps working.
func TestTrafficGrantAndExpiry(t *testing.T) {
	const port = 2222
	for _, tc := range []struct {
		name     string
		gw, from netip.Addr
	}{{"ipv4", gw4, cl4}, {"ipv6", gw6, cl6}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPair(t)
			p.gw.TempEcho(t, port)
			mustConnect(t, p.cl, tc.gw, port, "before the firewall").Close()

			f := openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: port}}})
			mustRefuse(t, p.cl, tc.gw, port, "protected, no grant")

			if err := f.Allow(tc.from, []protected.Service{{Proto: "tcp", Port: port}}, 2*time.Second, "test"); err != nil {
				t.Fatal(err)
			}
			kept := mustConnect(t, p.cl, tc.gw, port, "granted")

			waitfor.For(t, "the grant expiring in the kernel", 6*time.Second, func() bool { return len(grantsOf(t, f)) == 0 })
			mustRefuse(t, p.cl, tc.gw, port, "grant expired")
			echo(t, kept, "connection established during the grant, after expiry")

			// Revoke closes a live grant at once.
			if err := f.Allow(tc.from, []protected.Service{{Proto: "tcp", Port: port}}, time.Minute, "test"); err != nil {
				t.Fatal(err)
			}
			mustConnect(t, p.cl, tc.gw, port, "granted again").Close()
			if _, err := f.Revoke(tc.from); err != nil {
				t.Fatal(err)
			}
			mustRefuse(t, p.cl, tc.gw, port, "revoked")
		})
	}
}

// udpProbe sends one datagram from the client, too long to be a knock (a knock-sized one draws
// nothing from any port without stealth either: knockSizedRule), and reports whether an ICMP
// port-unreachable came back (read fails with ECONNREFUSED) or nothing did.
func udpProbe(t *testing.T, ns *testNS, to netip.Addr, port uint16) error {
	t.Helper()
	return udpProbeLen(t, ns, to, port, maxKnockUDPLen-8+1)
}

// TestTrafficStealth: with Stealth, an unused port and a protected one look
// the same to a scanner (no RST, no ICMP), public ports and ICMP still work.
func TestTrafficStealth(t *testing.T) {
	const hidden, public, unused = 2222, 2223, 2299
	p := newPair(t)
	p.gw.TempEcho(t, hidden)
	p.gw.TempEcho(t, public)

	// Without stealth the kernel answers for an unused port: this is what
	// stealth must hide.
	f := openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: hidden}}, Public: []protected.Service{{Proto: "tcp", Port: public}}})
	if _, err := dial(t, p.cl, gw4, unused); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("without stealth, unused port: %v, want connection refused", err)
	}
	if err := udpProbe(t, p.cl, gw4, unused); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("without stealth, unused udp port: %v, want ICMP port unreachable", err)
	}

	openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: hidden}}, Public: []protected.Service{{Proto: "tcp", Port: public}}, Stealth: true})
	for _, gw := range []netip.Addr{gw6, gw4} { // IPv6 first, with an empty neighbour cache: ND must work
		mustConnect(t, p.cl, gw, public, "stealth, public port").Close()
		mustDrop(t, p.cl, gw, unused, "stealth, unused port")
		mustDrop(t, p.cl, gw, hidden, "stealth, hidden port")
		if err := udpProbe(t, p.cl, gw, unused); !isTimeout(err) {
			t.Errorf("stealth, unused udp port on %s: %v, want no answer", gw, err)
		}
	}
	p.cl.run(t, "ping", "-c", "1", "-W", "2", gw4.String())
	p.cl.run(t, "ping", "-c", "1", "-W", "2", gw6.String())

	// A grant opens the hidden port, and only for the granted source.
	if err := f.Allow(cl4, []protected.Service{{Proto: "tcp", Port: hidden}}, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, p.cl, gw4, hidden, "stealth, granted").Close()
	mustDrop(t, p.cl, gw6, hidden, "stealth, granted for the IPv4 address only")
}

// TestTrafficForwardDNAT: a gateway DNATs tcp/2222 to port 22 of a host
// behind it. The forward chain protects the DNATed flow by the port the
// client connects to, and leaves plain routed traffic alone.
func TestTrafficForwardDNAT(t *testing.T) {
	// client 10.77.1.2 -- 10.77.1.1 gateway 10.77.2.1 -- 10.77.2.2 server
	p := newPair(t)
	srv := newNS(t)
	if err := netlab.Veth(p.gw.NS, "veth1", srv.NS, "veth1"); err != nil {
		t.Fatal(err)
	}
	if err := p.gw.IPBatch("addr add 10.77.2.1/24 dev veth1", "link set veth1 up"); err != nil {
		t.Fatal(err)
	}
	if err := srv.IPBatch("addr add 10.77.2.2/24 dev veth1", "link set veth1 up"); err != nil {
		t.Fatal(err)
	}
	p.gw.waitLinkUp(t, "veth1")
	srv.waitLinkUp(t, "veth1")
	if err := srv.IPBatch("route add default via 10.77.2.1"); err != nil {
		t.Fatal(err)
	}
	if err := p.cl.IPBatch("route add 10.77.2.0/24 via 10.77.1.1"); err != nil {
		t.Fatal(err)
	}
	p.gw.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nftScript(t, p.gw, `table ip nat {
		chain prerouting { type nat hook prerouting priority dstnat; tcp dport 2222 dnat to 10.77.2.2:22; }
	}`)
	srv.TempEcho(t, 22)
	server := netip.MustParseAddr("10.77.2.2")
	mustConnect(t, p.cl, gw4, 2222, "DNAT before the firewall").Close()

	f := openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: 2222}}})
	mustRefuse(t, p.cl, gw4, 2222, "DNATed protected port, no grant")
	// Routed, not DNATed, traffic to the same host and to port 22 passes:
	// the gateway must not cut its LAN off from ssh elsewhere.
	mustConnect(t, p.cl, server, 22, "routed, not DNATed").Close()

	if err := f.Allow(cl4, []protected.Service{{Proto: "tcp", Port: 2222}}, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, p.cl, gw4, 2222, "DNATed protected port, granted").Close()
}
