package e2e

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The fifth attacker review. Promise 1: no probe answer may depend on what is protected. Without
// stealth a protected TCP port answers a SYN as an unused port does, with an RST: the input
// chain's reject sends one through the kernel's own code. But the two RSTs come from different
// places: the reject runs in the input hook, while the kernel handles an IPv6 packet's
// Destination Options header after that hook (ip6_input_finish), before TCP. A SYN carrying a
// Destination Options header with an unknown option whose action is "discard and send a
// Parameter Problem" (type 0x80) so draws an RST from a protected port (the reject answers
// first) and an ICMPv6 Parameter Problem from every other port, unused or open: one SYN per port
// tells anyone on the internet which ports are hidden. The XDP program passes such packets (an
// extension header is never a knock).
func TestAttack5DestOptsSYNShowsProtectedTCPPorts(t *testing.T) {
	g := newGateway(t, 160)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort))
	mac, err := l.Gateway.MAC()
	if err != nil {
		t.Fatal(err)
	}
	// Unknown option 0x80 (action 10), 4 bytes of data: 8 bytes in all; the kernel fills the
	// next-header byte.
	dstopts := []byte{0, 0, 0x80, 4, 0, 0, 0, 0}
	answer := func(port uint16, opts bool) string {
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and ip6 and dst host %s and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)", mac, l.AttackerIP6()))
		d := net.Dialer{Timeout: 700 * time.Millisecond}
		if opts {
			d.Control = func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = unix.SetsockoptString(int(fd), unix.IPPROTO_IPV6, unix.IPV6_DSTOPTS, string(dstopts))
				}); err != nil {
					return err
				}
				return serr
			}
		}
		_ = l.Attacker.Do(func() error {
			conn, err := d.DialContext(context.Background(), "tcp6", netip.AddrPortFrom(l.GatewayIP6(), port).String())
			if err == nil {
				conn.Close()
			}
			return nil
		})
		time.Sleep(300 * time.Millisecond)
		pkts := strings.Join(c.stop(t), "\n")
		switch {
		case strings.Contains(pkts, "parameter problem"):
			return "ICMPv6 parameter problem"
		case strings.Contains(pkts, "Flags [R"):
			return "RST"
		case pkts == "":
			return "nothing"
		}
		return pkts
	}
	const unused = 40002
	plainUnused, plainProtected := answer(unused, false), answer(servicePort, false)
	optsUnused, optsProtected := answer(unused, true), answer(servicePort, true)
	t.Logf("plain SYN: unused tcp/%d -> %s, protected tcp/%d -> %s", unused, plainUnused, servicePort, plainProtected)
	t.Logf("SYN with a Destination Options header (unknown option 0x80): unused tcp/%d -> %s, protected tcp/%d -> %s", unused, optsUnused, servicePort, optsProtected)
	if plainUnused != plainProtected {
		t.Errorf("control: a plain SYN tells protected tcp/%d (%s) from unused tcp/%d (%s)", servicePort, plainProtected, unused, plainUnused)
	}
	if optsUnused != optsProtected {
		t.Errorf("a SYN with a Destination Options header tells protected from unused ports: protected tcp/%d answers %s, unused tcp/%d answers %s", servicePort, optsProtected, unused, optsUnused)
	}
}

// The same promise for every shape of IPv6 extension header the kernel handles after the input
// hook, over TCP and UDP: an unknown destination option whose action is a Parameter Problem or
// a silent discard, a skippable one, a type 0 routing header with a segment left (Parameter
// Problem), a segment routing header (dropped where seg6 is off), a hop-by-hop header out of
// place (Parameter Problem, unknown next header) and AH without a security association. Each is
// sent raw from the attacker's namespace to an unused and to a protected port, and the two
// answers must be the same.
func TestAttack5ExtensionHeadersShowNoProtectedPorts(t *testing.T) {
	const wg, unusedTCP, unusedUDP = 51820, 40005, 40006
	g := newGateway(t, 162)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	g.start("--services", fmt.Sprintf("tcp/%d,udp/%d", servicePort, wg))
	gwMAC, err := l.Gateway.MAC()
	if err != nil {
		t.Fatal(err)
	}
	atMAC, err := l.Attacker.MAC()
	if err != nil {
		t.Fatal(err)
	}
	src, dst := l.AttackerIP6(), l.GatewayIP6()
	hop := dst.As16()
	shapes := []struct {
		name string
		exts []ipv6Ext
	}{
		{"destination option 0x80 (Parameter Problem)", []ipv6Ext{{60, []byte{0, 0, 0x80, 4, 0, 0, 0, 0}}}},
		{"destination option 0x40 (discard)", []ipv6Ext{{60, []byte{0, 0, 0x40, 4, 0, 0, 0, 0}}}},
		{"destination option 0x1e (skip)", []ipv6Ext{{60, []byte{0, 0, 0x1e, 4, 0, 0, 0, 0}}}},
		{"routing header type 0, one segment left", []ipv6Ext{{43, append([]byte{0, 2, 0, 1, 0, 0, 0, 0}, hop[:]...)}}},
		{"routing header type 0, no segment left", []ipv6Ext{{43, append([]byte{0, 2, 0, 0, 0, 0, 0, 0}, hop[:]...)}}},
		{"segment routing header", []ipv6Ext{{43, append([]byte{0, 2, 4, 1, 0, 0, 0, 0}, hop[:]...)}}},
		{"hop-by-hop header after destination options", []ipv6Ext{{60, []byte{0, 0, 1, 4, 0, 0, 0, 0}}, {0, []byte{0, 0, 1, 4, 0, 0, 0, 0}}}},
		{"AH, no security association", []ipv6Ext{{51, []byte{0, 4, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}}},
	}
	answer := func(proto byte, port uint16, exts []ipv6Ext) string {
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and ip6 and dst host %s and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)", gwMAC, src))
		var l4 []byte
		if proto == unix.IPPROTO_TCP {
			l4 = make([]byte, 20)
			binary.BigEndian.PutUint32(l4[4:], 0x01020304)
			l4[12], l4[13] = 5<<4, 0x02
			binary.BigEndian.PutUint16(l4[14:], 64240)
		} else {
			l4 = make([]byte, 8+32) // longer than a knock
			binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		}
		binary.BigEndian.PutUint16(l4[0:], 40124)
		binary.BigEndian.PutUint16(l4[2:], port)
		if err := l.Attacker.Do(func() error { return sendIPv6(gwMAC, atMAC, src, dst, exts, proto, l4) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		pkts := strings.Join(c.stop(t), "\n")
		switch {
		case strings.Contains(pkts, "parameter problem"):
			return "ICMPv6 parameter problem"
		case strings.Contains(pkts, "unreachable"):
			return "ICMPv6 unreachable"
		case strings.Contains(pkts, "Flags [R"):
			return "RST"
		case pkts == "":
			return "nothing"
		}
		return pkts
	}
	for _, s := range shapes {
		for _, p := range []struct {
			name           string
			proto          byte
			unused, hidden uint16
		}{{"tcp", unix.IPPROTO_TCP, unusedTCP, servicePort}, {"udp", unix.IPPROTO_UDP, unusedUDP, wg}} {
			u, h := answer(p.proto, p.unused, s.exts), answer(p.proto, p.hidden, s.exts)
			t.Logf("%s, %s: unused %s/%d -> %s, protected %s/%d -> %s", s.name, p.name, p.name, p.unused, u, p.name, p.hidden, h)
			if u != h {
				t.Errorf("%s over %s tells protected from unused ports: protected %s/%d answers %s, unused %s/%d answers %s", s.name, p.name, p.name, p.hidden, h, p.name, p.unused, u)
			}
		}
	}
}

// ipv6Ext is one extension header: its type (the next-header value that announces it) and its
// bytes, whose first (its own next-header field) sendIPv6 fills in.
type ipv6Ext struct {
	typ byte
	b   []byte
}

// sendIPv6 sends one IPv6 packet from src to dst carrying exts and then the transport header and
// payload l4 of protocol proto (its checksum filled in) in an Ethernet frame to dstMAC on the lab
// interface of the calling thread's namespace.
func sendIPv6(dstMAC, srcMAC string, src, dst netip.Addr, exts []ipv6Ext, proto byte, l4 []byte) error {
	return sendRaw(dstMAC, srcMAC, src, dst, rawL4{proto: proto, b: l4, exts: exts})
}
