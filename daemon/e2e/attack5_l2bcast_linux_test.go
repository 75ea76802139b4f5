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

// The fifth attacker review, promise 1, the same kind as TestAttack5DestOptsSYNShowsProtectedTCPPorts
// from the link next to the gateway: a TCP SYN to the gateway's unicast address in a frame sent
// to the Ethernet broadcast address. The kernel's TCP ignores a segment that did not come to its
// own MAC (tcp_v4_rcv: pkt_type != PACKET_HOST) so an unused port says nothing, but the input
// chain's reject answers a protected port with an RST: every host on the uplink's segment (a
// shared ISP segment, a hosting VLAN) can list the hidden ports.
func TestAttack5BroadcastFramedSYNShowsProtectedTCPPorts(t *testing.T) {
	g, gwMAC, atMAC := probeLab(t, 161, fmt.Sprintf("tcp/%d", servicePort))
	l := g.lab
	src, dst := l.AttackerIP(), l.GatewayIP()
	answer := func(port uint16, dstMAC string) string {
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and ip and dst host %s", gwMAC, src))
		if err := l.Attacker.Do(func() error { return sendSYN(dstMAC, atMAC, src, dst, 40123, port) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		pkts := strings.Join(c.stop(t), "\n")
		switch {
		case strings.Contains(pkts, "Flags [R"):
			return "RST"
		case pkts == "":
			return "nothing"
		}
		return pkts
	}
	const unused = 40003
	bcast := "ff:ff:ff:ff:ff:ff"
	uu, pu := answer(unused, gwMAC), answer(servicePort, gwMAC)
	ub, pb := answer(unused, bcast), answer(servicePort, bcast)
	t.Logf("SYN to the gateway's MAC: unused tcp/%d -> %s, protected tcp/%d -> %s", unused, uu, servicePort, pu)
	t.Logf("SYN in a broadcast frame: unused tcp/%d -> %s, protected tcp/%d -> %s", unused, ub, servicePort, pb)
	if uu != pu {
		t.Errorf("control: a SYN to the gateway's MAC tells protected (%s) from unused (%s)", pu, uu)
	}
	if ub != pb {
		t.Errorf("a SYN in a broadcast frame tells protected from unused ports: protected tcp/%d answers %s, unused tcp/%d answers %s", servicePort, pb, unused, ub)
	}
}

// sendSYN sends one TCP SYN from src:sport to dst:dport in an Ethernet frame to dstMAC on the
// lab interface of the calling thread's namespace.
func sendSYN(dstMAC, srcMAC string, src, dst netip.Addr, sport, dport uint16) error {
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
	f := make([]byte, 14+20+20)
	copy(f[0:6], dm)
	copy(f[6:12], sm)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, unix.IPPROTO_TCP
	binary.BigEndian.PutUint16(ip[2:], 40)
	binary.BigEndian.PutUint16(ip[4:], 0x1234)
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:16], s4[:])
	copy(ip[16:20], d4[:])
	binary.BigEndian.PutUint16(ip[10:], csum(ip, 0))
	tcp := f[34:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], 0x01020304)
	tcp[12], tcp[13] = 5<<4, 0x02
	binary.BigEndian.PutUint16(tcp[14:], 64240)
	var pseudo uint32
	for i := 0; i < 4; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(s4[i:])) + uint32(binary.BigEndian.Uint16(d4[i:]))
	}
	pseudo += unix.IPPROTO_TCP + 20
	binary.BigEndian.PutUint16(tcp[16:], csum(tcp, pseudo))
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{dm[0], dm[1], dm[2], dm[3], dm[4], dm[5]}})
}

// csum is the Internet checksum of b, starting from sum.
func csum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
