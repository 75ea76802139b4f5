package e2e

import (
	"encoding/binary"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// The sixth attacker review. Promise 1: no probe answer may depend on what is protected. The
// firewall's doc (protectedRules) knows one difference and leaves it: the kernel copies a SYN's
// DSCP into the RST it sends for an unused port (tcp_v4_send_reset: arg.tos; tcp_v6_send_reset:
// ipv6_get_dsfield), where nftables' reject sends 0, because "scanners send 0". A prober is not
// bound to: a SYN with DSCP 8 (TOS 0x20) draws an RST with TOS 0x20 from an unused port and TOS
// 0x0 from a protected one, over IPv4 and IPv6 alike. One SYN per port lists the protected ports.
func TestAttack6DSCPSYNShowsProtectedTCPPorts(t *testing.T) {
	const unused = 40009
	g, gwMAC, atMAC := probeLab(t, 174, fmt.Sprintf("tcp/%d", servicePort))
	l := g.lab
	// tcpdump -v: "tos 0x20" in an IPv4 header, "class 0x20" in an IPv6 one (none when 0).
	tosRE := regexp.MustCompile(`(?:tos|class) (0x[0-9a-f]+)`)
	answer := func(v6 bool, port uint16, tos byte) string {
		src, dst, family := l.AttackerIP(), l.GatewayIP(), "ip"
		if v6 {
			src, dst, family = l.AttackerIP6(), l.GatewayIP6(), "ip6"
		}
		p, err := l.Attacker.Start("tcpdump", "-l", "-n", "-v", "-i", netlab.Iface, fmt.Sprintf("ether src %s and %s and tcp", gwMAC, family))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Kill() })
		if err := p.WaitOutput("listening on", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		c := &capture{p: p}
		b := make([]byte, 20)
		binary.BigEndian.PutUint16(b[0:], 40127)
		binary.BigEndian.PutUint16(b[2:], port)
		binary.BigEndian.PutUint32(b[4:], 0x01020304)
		b[12], b[13] = 5<<4, 0x02
		binary.BigEndian.PutUint16(b[14:], 64240)
		pkt := rawL4{proto: unix.IPPROTO_TCP, b: b, tos: tos}
		if err := l.Attacker.Do(func() error { return sendRaw(gwMAC, atMAC, src, dst, pkt) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		pkts := c.stop(t)
		if len(pkts) == 0 {
			return "nothing"
		}
		for _, line := range pkts {
			if m := tosRE.FindStringSubmatch(line); m != nil {
				return "RST with TOS " + m[1]
			}
		}
		for _, line := range pkts {
			if strings.Contains(line, "Flags [R") {
				return "RST with TOS 0x0" // tcpdump leaves out a class of 0
			}
		}
		return fmt.Sprint(pkts)
	}
	for _, v6 := range []bool{false, true} {
		for _, tos := range []byte{0, 0x20} {
			u, h := answer(v6, unused, tos), answer(v6, servicePort, tos)
			t.Logf("SYN with TOS %#x (IPv6: %v): unused tcp/%d -> %s, protected tcp/%d -> %s", tos, v6, unused, u, servicePort, h)
			if u != h {
				t.Errorf("a SYN with TOS %#x (IPv6: %v) tells protected from unused ports: protected tcp/%d answers %s, unused tcp/%d answers %s", tos, v6, servicePort, h, unused, u)
			}
		}
	}
}
