package e2e

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
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
	g := newGateway(t, 170)
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
	tcpSYN := func(doff byte) func(port uint16) attack6L4 {
		return func(port uint16) attack6L4 {
			b := make([]byte, 20)
			binary.BigEndian.PutUint16(b[0:], 40124)
			binary.BigEndian.PutUint16(b[2:], port)
			binary.BigEndian.PutUint32(b[4:], 0x01020304)
			b[12], b[13] = doff<<4, 0x02
			binary.BigEndian.PutUint16(b[14:], 64240)
			return attack6L4{proto: unix.IPPROTO_TCP, b: b}
		}
	}
	udp := func(lenField uint16, zeroCsum bool) func(port uint16) attack6L4 {
		return func(port uint16) attack6L4 {
			b := make([]byte, 8+40) // longer than a knock
			binary.BigEndian.PutUint16(b[0:], 40124)
			binary.BigEndian.PutUint16(b[2:], port)
			binary.BigEndian.PutUint16(b[4:], lenField)
			return attack6L4{proto: unix.IPPROTO_UDP, b: b, zeroCsum: zeroCsum}
		}
	}
	shapes := []struct {
		name string
		v6   bool
		l4   func(port uint16) attack6L4
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
	answer := func(v6 bool, pkt attack6L4) string {
		src, dst := l.AttackerIP(), l.GatewayIP()
		family := "ip"
		if v6 {
			src, dst, family = l.AttackerIP6(), l.GatewayIP6(), "ip6"
		}
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and %s and dst host %s and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)", gwMAC, family, src))
		if err := l.Attacker.Do(func() error { return attack6SendRaw(gwMAC, atMAC, src, dst, pkt) }); err != nil {
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

// attack6L4 is a transport header and payload of protocol proto; attack6SendRaw fills in its
// checksum over the bytes that are sent (the pseudo-header's length is theirs, not a length
// field's), or leaves it zero.
type attack6L4 struct {
	proto    byte
	b        []byte
	zeroCsum bool
	// ipOpts are IPv4 options (a multiple of 4 bytes) put after the fixed header.
	ipOpts []byte
	// tos is the IPv4 type of service or the IPv6 traffic class.
	tos byte
	// padding is the number of zero bytes sent after b, outside its checksum.
	padding int
	// padBalanced makes the padding's first word cancel the longer pseudo-header length, so the
	// checksum is right over b alone and over b with the padding alike.
	padBalanced bool
}

// attack6SendRaw sends one IPv4 or IPv6 packet from src to dst carrying pkt in an Ethernet frame
// to dstMAC on the lab interface of the calling thread's namespace.
func attack6SendRaw(dstMAC, srcMAC string, src, dst netip.Addr, pkt attack6L4) error {
	dm, err := net.ParseMAC(dstMAC)
	if err != nil {
		return err
	}
	sm, err := net.ParseMAC(srcMAC)
	if err != nil {
		return err
	}
	ifi, err := net.InterfaceByName(netlab.Iface)
	if err != nil {
		return err
	}
	l4 := append([]byte(nil), pkt.b...)
	sb, db := src.AsSlice(), dst.AsSlice()
	var pseudo uint32
	for i := 0; i < len(sb); i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(sb[i:])) + uint32(binary.BigEndian.Uint16(db[i:]))
	}
	pseudo += uint32(pkt.proto) + uint32(len(l4))
	ck := 6
	if pkt.proto == unix.IPPROTO_TCP {
		ck = 16
	}
	binary.BigEndian.PutUint16(l4[ck:], 0)
	if !pkt.zeroCsum {
		c := csum(l4, pseudo)
		if c == 0 && pkt.proto == unix.IPPROTO_UDP {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(l4[ck:], c)
	}
	pad := make([]byte, pkt.padding)
	if pkt.padBalanced && len(pad) >= 2 {
		binary.BigEndian.PutUint16(pad, 0xffff-uint16(len(pad)))
	}
	l4 = append(l4, pad...)
	f := make([]byte, 14, 14+40+len(l4))
	copy(f[0:6], dm)
	copy(f[6:12], sm)
	if src.Is4() {
		binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
		ip := append(make([]byte, 20), pkt.ipOpts...)
		ip[0], ip[1], ip[8], ip[9] = 0x40|byte(len(ip)/4), pkt.tos, 64, pkt.proto
		binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)+len(l4)))
		binary.BigEndian.PutUint16(ip[4:], 0x1234)
		copy(ip[12:16], sb)
		copy(ip[16:20], db)
		binary.BigEndian.PutUint16(ip[10:], csum(ip, 0))
		f = append(f, ip...)
	} else {
		binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IPV6)
		ip := make([]byte, 40)
		ip[0], ip[1] = 0x60|pkt.tos>>4, pkt.tos<<4
		binary.BigEndian.PutUint16(ip[4:], uint16(len(l4)))
		ip[6], ip[7] = pkt.proto, 64
		copy(ip[8:24], sb)
		copy(ip[24:40], db)
		f = append(f, ip...)
	}
	f = append(f, l4...)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{dm[0], dm[1], dm[2], dm[3], dm[4], dm[5]}})
}
