package e2e

import (
	"context"
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
