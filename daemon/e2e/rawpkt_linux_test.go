package e2e

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// rawL4 is a transport header and payload of protocol proto; sendRaw fills in its
// checksum over the bytes that are sent (the pseudo-header's length is theirs, not a length
// field's), or leaves it zero.
type rawL4 struct {
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
	// exts are IPv6 extension headers put before b (their next-header fields filled in).
	exts []ipv6Ext
}

// sendRaw sends one IPv4 or IPv6 packet from src to dst carrying pkt in an Ethernet frame
// to dstMAC on the lab interface of the calling thread's namespace.
func sendRaw(dstMAC, srcMAC string, src, dst netip.Addr, pkt rawL4) error {
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
		var ext []byte
		for i, e := range pkt.exts {
			b := append([]byte(nil), e.b...)
			b[0] = pkt.proto
			if i+1 < len(pkt.exts) {
				b[0] = pkt.exts[i+1].typ
			}
			ext = append(ext, b...)
		}
		ip := make([]byte, 40)
		ip[0], ip[1] = 0x60|pkt.tos>>4, pkt.tos<<4
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+len(l4)))
		ip[6], ip[7] = pkt.proto, 64
		if len(pkt.exts) > 0 {
			ip[6] = pkt.exts[0].typ
		}
		copy(ip[8:24], sb)
		copy(ip[24:40], db)
		f = append(append(f, ip...), ext...)
	}
	f = append(f, l4...)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Sendto(fd, f, 0, &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6, Addr: [8]byte{dm[0], dm[1], dm[2], dm[3], dm[4], dm[5]}})
}

// probeLab starts hypd on a new lab (subnet n) protecting services, with one key, for the raw
// probe tests, and returns the gateway's and the attacker's MAC addresses.
func probeLab(t *testing.T, n int, services string) (g *gateway, gwMAC, atMAC string) {
	t.Helper()
	g = newGateway(t, n)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	g.start("--services", services)
	var err error
	if gwMAC, err = l.Gateway.MAC(); err != nil {
		t.Fatal(err)
	}
	if atMAC, err = l.Attacker.MAC(); err != nil {
		t.Fatal(err)
	}
	return g, gwMAC, atMAC
}
