package e2e

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The sixth attacker review. Promise 1: no probe answer may depend on what is protected. Without
// stealth a protected port answers through nftables' reject (nf_send_reset, nf_send_unreach[6]),
// an unused one through the kernel's TCP and UDP code. The kernel's code throws away, silently,
// segments and datagrams whose headers do not add up before it looks for a socket: a TCP header
// whose data offset is below 5 words or past the end of the packet (tcp_v4_rcv, tcp_v6_rcv:
// bad_packet, or pskb_may_pull of doff*4 fails), a UDP datagram whose length field is longer than
// what arrived (__udp4_lib_rcv, __udp6_lib_rcv: short_packet), and an IPv6 UDP datagram with a
// zero checksum (illegal in IPv6; __udp6_lib_rcv: report_csum_error). Conntrack marks the TCP and
// UDP length errors invalid and passes them on; the reject checks nothing but RST flags, fragment
// offset and (for UDP, only when it is not zero) the checksum, so it answers all of them: an RST or
// a port unreachable from every protected port, silence from every unused one. One raw packet
// per port lists the protected ports to anyone on the internet.
func TestAttack6MalformedHeadersShowProtectedPorts(t *testing.T) {
	const wg, unusedTCP, unusedUDP = 51820, 40005, 40006
	g, gwMAC, atMAC := probeLab(t, 170, fmt.Sprintf("tcp/%d,udp/%d", servicePort, wg))
	l := g.lab
	tcpSYN := func(doff byte) func(port uint16) rawL4 {
		return func(port uint16) rawL4 {
			b := make([]byte, 20)
			binary.BigEndian.PutUint16(b[0:], 40124)
			binary.BigEndian.PutUint16(b[2:], port)
			binary.BigEndian.PutUint32(b[4:], 0x01020304)
			b[12], b[13] = doff<<4, 0x02
			binary.BigEndian.PutUint16(b[14:], 64240)
			return rawL4{proto: unix.IPPROTO_TCP, b: b}
		}
	}
	udp := func(lenField uint16, zeroCsum bool) func(port uint16) rawL4 {
		return func(port uint16) rawL4 {
			b := make([]byte, 8+40) // longer than a knock
			binary.BigEndian.PutUint16(b[0:], 40124)
			binary.BigEndian.PutUint16(b[2:], port)
			binary.BigEndian.PutUint16(b[4:], lenField)
			return rawL4{proto: unix.IPPROTO_UDP, b: b, zeroCsum: zeroCsum}
		}
	}
	shapes := []struct {
		name string
		v6   bool
		l4   func(port uint16) rawL4
		tcp  bool
	}{
		{"control: plain SYN over IPv4", false, tcpSYN(5), true},
		{"control: plain SYN over IPv6", true, tcpSYN(5), true},
		{"control: plain UDP over IPv4", false, udp(48, false), false},
		{"control: plain UDP over IPv6", true, udp(48, false), false},
		{"SYN with data offset 15 (past the packet's end) over IPv4", false, tcpSYN(15), true},
		{"SYN with data offset 15 (past the packet's end) over IPv6", true, tcpSYN(15), true},
		{"SYN with data offset 4 over IPv4", false, tcpSYN(4), true},
		{"SYN with data offset 4 over IPv6", true, tcpSYN(4), true},
		{"UDP length field 200 (48 bytes arrived) over IPv4", false, udp(200, false), false},
		{"UDP length field 200 (48 bytes arrived) over IPv6", true, udp(200, false), false},
		{"UDP with a zero checksum over IPv6", true, udp(48, true), false},
	}
	answer := func(v6 bool, pkt rawL4) string {
		src, dst := l.AttackerIP(), l.GatewayIP()
		family := "ip"
		if v6 {
			src, dst, family = l.AttackerIP6(), l.GatewayIP6(), "ip6"
		}
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and %s and dst host %s and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)", gwMAC, family, src))
		if err := l.Attacker.Do(func() error { return sendRaw(gwMAC, atMAC, src, dst, pkt) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		pkts := strings.Join(c.stop(t), "\n")
		switch {
		case strings.Contains(pkts, "unreachable"):
			return "port unreachable"
		case strings.Contains(pkts, "Flags [R"):
			return "RST"
		case pkts == "":
			return "nothing"
		}
		return pkts
	}
	for _, s := range shapes {
		unused, hidden := uint16(unusedUDP), uint16(wg)
		if s.tcp {
			unused, hidden = unusedTCP, servicePort
		}
		u, h := answer(s.v6, s.l4(unused)), answer(s.v6, s.l4(hidden))
		t.Logf("%s: unused port %d -> %s, protected port %d -> %s", s.name, unused, u, hidden, h)
		if u != h {
			t.Errorf("%s tells protected from unused ports: protected %d answers %s, unused %d answers %s", s.name, hidden, h, unused, u)
		}
	}
}
