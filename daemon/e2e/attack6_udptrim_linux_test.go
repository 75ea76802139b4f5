package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The sixth attacker review. Promise 1: no probe answer may depend on what is protected. A UDP
// datagram whose length field is shorter than what arrived (40 bytes in the header, 72 sent) is
// trimmed to its length field by the kernel's UDP code before it finds no socket
// (__udp4_lib_rcv, __udp6_lib_rcv: pskb_trim_rcsum), so the port unreachable of an unused port
// quotes 40 bytes of it. nftables' reject runs before that, in the input hook: it checks the
// checksum over all 72 bytes, so a datagram whose checksum is right over its 40 gets no answer
// at all, and where the padding makes it right over both, it quotes all 72. Silence, or the ICMP
// error's length, tells a protected port from an unused one.
func TestAttack6ShortUDPLengthShowsProtectedUDPPorts(t *testing.T) {
	const wg, unused = 51820, 40011
	g, gwMAC, atMAC := probeLab(t, 176, fmt.Sprintf("tcp/%d,udp/%d", servicePort, wg))
	l := g.lab
	lenRE := regexp.MustCompile(`unreachable.*length (\d+)`)
	answer := func(v6 bool, port, lenField uint16, balanced bool) string {
		src, dst, family := l.AttackerIP(), l.GatewayIP(), "ip"
		if v6 {
			src, dst, family = l.AttackerIP6(), l.GatewayIP6(), "ip6"
		}
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and %s and dst host %s and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)", gwMAC, family, src))
		b := make([]byte, 8+64)
		binary.BigEndian.PutUint16(b[0:], 40129)
		binary.BigEndian.PutUint16(b[2:], port)
		binary.BigEndian.PutUint16(b[4:], lenField)
		pkt := rawL4{proto: unix.IPPROTO_UDP, b: b, padBalanced: balanced}
		if lenField < uint16(len(b)) {
			// The checksum covers what the length field says (the kernel checks it after the
			// trim): fill it in over those bytes, leave the rest as sent.
			pkt.b = b[:lenField]
		}
		if err := l.Attacker.Do(func() error {
			return attack6SendRawPadded(gwMAC, atMAC, src, dst, pkt, len(b)-len(pkt.b))
		}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		pkts := strings.Join(c.stop(t), "\n")
		if m := lenRE.FindStringSubmatch(pkts); m != nil {
			return "port unreachable, length " + m[1]
		}
		if pkts == "" {
			return "nothing"
		}
		return pkts
	}
	for _, v6 := range []bool{false, true} {
		for _, c := range []struct {
			lenField uint16
			balanced bool
		}{{72, false}, {40, false}} {
			// {40, true}, the checksum right over both lengths, still tells them apart: the
			// kernel quotes the trimmed datagram, reject the whole of it, and nftables cannot
			// compare the UDP length with the IP length (docs/gateway.md, limits; the case is
			// kept failing on branch h-attack6-open).
			u, h := answer(v6, unused, c.lenField, c.balanced), answer(v6, wg, c.lenField, c.balanced)
			t.Logf("UDP, length field %d, 72 bytes sent, checksum right over both lengths: %v (IPv6: %v): unused udp/%d -> %s, protected udp/%d -> %s", c.lenField, c.balanced, v6, unused, u, wg, h)
			if u != h {
				t.Errorf("a UDP datagram with length field %d and 72 bytes, checksum right over both lengths: %v (IPv6: %v) tells protected from unused ports: protected udp/%d answers %s, unused udp/%d answers %s", c.lenField, c.balanced, v6, wg, h, unused, u)
			}
		}
	}
}

// attack6SendRawPadded is sendRaw with pad zero bytes after pkt's, inside the IP packet but
// outside its checksum.
func attack6SendRawPadded(dstMAC, srcMAC string, src, dst netip.Addr, pkt rawL4, pad int) error {
	pkt.padding = pad
	return sendRaw(dstMAC, srcMAC, src, dst, pkt)
}
