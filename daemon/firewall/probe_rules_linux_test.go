package firewall

import (
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"
)

// wantForwardStealth is the forward chain in stealth mode: a forwarded protected port is as
// silent as the rest.
var wantForwardStealth = []string{
	"ct state established,related accept",
	"ct status ! dnat accept",
	"ip saddr . meta l4proto . ct original proto-dst @allow4 accept",
	"ip6 saddr . meta l4proto . ct original proto-dst @allow6 accept",
	"meta l4proto . ct original proto-dst @protected counter drop",
}

// mustRefuse dials and wants the answer an unused port gets: an RST (connection refused).
func mustRefuse(t *testing.T, ns *testNS, to netip.Addr, port uint16, why string) {
	t.Helper()
	c, err := dial(t, ns, to, port)
	if err == nil {
		c.Close()
		t.Errorf("%s: connect to %s port %d succeeded, want it refused", why, to, port)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("%s: connect to %s port %d: %v, want connection refused (an RST, as for an unused port)", why, to, port, err)
	}
}

// udpProbeLen sends one datagram of n bytes from ns and returns what the read saw: ECONNREFUSED
// for an ICMP port unreachable, a timeout for no answer.
func udpProbeLen(t *testing.T, ns *testNS, to netip.Addr, port uint16, n int) error {
	t.Helper()
	var c net.Conn
	if err := ns.do(func() (err error) {
		c, err = net.Dial("udp", netip.AddrPortFrom(to, port).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(probeTimeout))
	if _, err := c.Write(make([]byte, n)); err != nil {
		return err
	}
	_, err := c.Read(make([]byte, 16))
	return err
}

// TestProtectedAnswersLikeUnused: without stealth a protected TCP port is refused with an RST and
// a protected UDP port answers a datagram too long to be a knock with an ICMP port unreachable,
// exactly as the unused ports beside them do, over IPv4 and IPv6, although both services listen.
// A knock-sized datagram to the protected UDP port draws nothing (the XDP detector drops those to
// every other port), and a grant still opens both.
func TestProtectedAnswersLikeUnused(t *testing.T) {
	const (
		tcpPort, udpPort = 2222, 3332
		unusedTCP        = tcpPort + 1
		unusedUDP        = udpPort + 1
	)
	p := newPair(t)
	p.gw.TempEcho(t, tcpPort)
	var udp net.PacketConn
	if err := p.gw.do(func() (err error) {
		udp, err = net.ListenPacket("udp", "[::]:3332")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	go func() { // answers every datagram, so a reply proves the datagram got through
		b := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFrom(b)
			if err != nil {
				return
			}
			udp.WriteTo(b[:n], from)
		}
	}()
	f := openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: tcpPort}, {Proto: "udp", Port: udpPort}}})

	for _, tc := range []struct {
		name     string
		gw, from netip.Addr
	}{{"ipv4", gw4, cl4}, {"ipv6", gw6, cl6}} {
		t.Run(tc.name, func(t *testing.T) {
			mustRefuse(t, p.cl, tc.gw, unusedTCP, "unused tcp port")
			mustRefuse(t, p.cl, tc.gw, tcpPort, "protected tcp port, no grant")
			for _, port := range []uint16{unusedUDP, udpPort} {
				if err := udpProbeLen(t, p.cl, tc.gw, port, 17); !errors.Is(err, syscall.ECONNREFUSED) {
					t.Errorf("udp port %d, 17 bytes: %v, want ICMP port unreachable (connection refused)", port, err)
				}
			}
			for _, n := range []int{0, 1, 16} {
				if err := udpProbeLen(t, p.cl, tc.gw, udpPort, n); err == nil || !isTimeout(err) {
					t.Errorf("protected udp port, knock-sized datagram of %d bytes: %v, want no answer", n, err)
				}
			}

			if err := f.Allow(tc.from, []protected.Service{{Proto: "tcp", Port: tcpPort}, {Proto: "udp", Port: udpPort}}, time.Minute, "test"); err != nil {
				t.Fatal(err)
			}
			mustConnect(t, p.cl, tc.gw, tcpPort, "granted").Close()
			for _, n := range []int{1, 17} {
				if err := udpProbeLen(t, p.cl, tc.gw, udpPort, n); err != nil {
					t.Errorf("protected udp port, granted, %d bytes: %v, want the service's echo", n, err)
				}
			}
			if _, err := f.Revoke(tc.from); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestStealthProtectedSilent: with stealth the protected ports draw nothing at all, whatever the
// datagram's size.
func TestStealthProtectedSilent(t *testing.T) {
	p := newPair(t)
	p.gw.TempEcho(t, 2222)
	openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: 2222}, {Proto: "udp", Port: 3332}}, Stealth: true})
	for _, gw := range []netip.Addr{gw4, gw6} {
		mustDrop(t, p.cl, gw, 2222, "stealth, protected tcp port")
		for _, n := range []int{1, 17, 100} {
			if err := udpProbeLen(t, p.cl, gw, 3332, n); err == nil || !isTimeout(err) {
				t.Errorf("stealth, protected udp port on %s, %d bytes: %v, want no answer", gw, n, err)
			}
		}
	}
}

// TestOutputChainLabelsLikeTheKernel: the output chain labels our RSTs only where the kernel
// labels its own (net.ipv6.auto_flowlabels 1, the default, or 3) and only without stealth.
func TestOutputChainLabelsLikeTheKernel(t *testing.T) {
	for _, c := range []struct {
		auto    string
		stealth bool
		rules   int
	}{{"1", false, 1}, {"3", false, 1}, {"0", false, 0}, {"2", false, 0}, {"1", true, 0}} {
		ns := newNS(t)
		ns.run(t, "sysctl", "-qw", "net.ipv6.auto_flowlabels="+c.auto)
		f := openNS(t, ns, Config{Protected: []protected.Service{ssh}, Stealth: c.stealth})
		r := chainRules(t, ns, "hyp", "output")
		if len(r) != c.rules {
			t.Errorf("auto_flowlabels %s, stealth %v: output chain %q, want %d rules", c.auto, c.stealth, r, c.rules)
		}
		if len(r) == 1 && !strings.Contains(r[0], "jhash") {
			t.Errorf("output rule %q: want it to set the label from a jhash", r[0])
		}
		if d, err := f.Drift(); err != nil || len(d) != 0 {
			t.Errorf("auto_flowlabels %s, stealth %v: drift %v, %v", c.auto, c.stealth, d, err)
		}
	}
}

// TestForwardedProtectedAnswersLikeUnused: a gateway DNATs tcp/2222 and udp/2222 to a host behind
// it. Without a grant a connect is refused and a datagram too long to be a knock draws an ICMP
// port unreachable, both from the gateway's address and port 2222 as the client tried them (the
// client's socket takes them only if so), like an unused port of the gateway; a knock-sized
// datagram draws nothing.
func TestForwardedProtectedAnswersLikeUnused(t *testing.T) {
	// client 10.77.1.2 -- 10.77.1.1 gateway 10.77.2.1 -- 10.77.2.2 server
	p := newPair(t)
	srv := newNS(t)
	p.gw.run(t, "ip", "link", "add", "veth1", "type", "veth", "peer", "name", "veth1", "netns", srv.Name)
	p.gw.run(t, "ip", "addr", "add", "10.77.2.1/24", "dev", "veth1")
	p.gw.run(t, "ip", "link", "set", "veth1", "up")
	srv.run(t, "ip", "addr", "add", "10.77.2.2/24", "dev", "veth1")
	srv.run(t, "ip", "link", "set", "veth1", "up")
	p.gw.waitLinkUp(t, "veth1")
	srv.waitLinkUp(t, "veth1")
	srv.run(t, "ip", "route", "add", "default", "via", "10.77.2.1")
	p.gw.run(t, "sysctl", "-qw", "net.ipv4.ip_forward=1")
	nftScript(t, p.gw, `table ip nat {
		chain prerouting { type nat hook prerouting priority dstnat; meta l4proto { tcp, udp } th dport 2222 dnat to 10.77.2.2:22; }
	}`)
	srv.TempEcho(t, 22)
	var udp net.PacketConn
	if err := srv.do(func() (err error) {
		udp, err = net.ListenPacket("udp4", ":22")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { udp.Close() })
	go func() {
		b := make([]byte, 1500)
		for {
			n, from, err := udp.ReadFrom(b)
			if err != nil {
				return
			}
			udp.WriteTo(b[:n], from)
		}
	}()
	if err := udpProbeLen(t, p.cl, gw4, 2222, 32); err != nil {
		t.Fatalf("udp through the DNAT before the firewall: %v", err)
	}

	f := openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: 2222}, {Proto: "udp", Port: 2222}}})
	mustRefuse(t, p.cl, gw4, 2223, "the gateway's unused port")
	mustRefuse(t, p.cl, gw4, 2222, "DNATed protected tcp port, no grant")
	for _, port := range []uint16{2223, 2222} {
		if err := udpProbeLen(t, p.cl, gw4, port, 32); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("udp port %d, 32 bytes: %v, want ICMP port unreachable (connection refused)", port, err)
		}
	}
	if err := udpProbeLen(t, p.cl, gw4, 2222, 8); err == nil || !isTimeout(err) {
		t.Errorf("DNATed protected udp port, knock-sized datagram: %v, want no answer", err)
	}
	if err := f.Allow(cl4, []protected.Service{{Proto: "tcp", Port: 2222}, {Proto: "udp", Port: 2222}}, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	mustConnect(t, p.cl, gw4, 2222, "DNATed protected port, granted").Close()
	if err := udpProbeLen(t, p.cl, gw4, 2222, 8); err != nil {
		t.Errorf("DNATed protected udp port, granted: %v, want the echo", err)
	}
}
