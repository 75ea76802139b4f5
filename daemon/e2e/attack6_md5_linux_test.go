package e2e

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The sixth attacker review. Promise 1: no probe answer may depend on what is protected. A SYN
// that carries a TCP MD5 signature option (RFC 2385, kind 19) draws no RST from the kernel for a
// port with no socket: tcp_v4_send_reset and tcp_v6_send_reset look for a listener and its key
// to check the signature with, find none, and send nothing ("don't send rst if it can't find
// key"). nftables' reject (nf_send_reset) does not look at TCP options and answers it with an
// RST. One such SYN per port lists the protected ports to anyone on the internet.
func TestAttack6MD5OptionSYNShowsProtectedTCPPorts(t *testing.T) {
	const unused = 40010
	g, gwMAC, atMAC := probeLab(t, 175, fmt.Sprintf("tcp/%d", servicePort))
	l := g.lab
	syn := func(port uint16, md5 bool) rawL4 {
		b := make([]byte, 20)
		if md5 {
			// Kind 19, length 18, a 16-byte digest, then two no-operations: 20 bytes.
			opt := append([]byte{19, 18}, []byte("0123456789abcdef")...)
			b = append(b, append(opt, 1, 1)...)
		}
		binary.BigEndian.PutUint16(b[0:], 40128)
		binary.BigEndian.PutUint16(b[2:], port)
		binary.BigEndian.PutUint32(b[4:], 0x01020304)
		b[12], b[13] = byte(len(b)/4)<<4, 0x02
		binary.BigEndian.PutUint16(b[14:], 64240)
		return rawL4{proto: unix.IPPROTO_TCP, b: b}
	}
	answer := func(v6 bool, port uint16, md5 bool) string {
		src, dst, family := l.AttackerIP(), l.GatewayIP(), "ip"
		if v6 {
			src, dst, family = l.AttackerIP6(), l.GatewayIP6(), "ip6"
		}
		c := startCapture(t, l.Attacker, fmt.Sprintf("ether src %s and %s and tcp", gwMAC, family))
		if err := l.Attacker.Do(func() error { return sendRaw(gwMAC, atMAC, src, dst, syn(port, md5)) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		pkts := strings.Join(c.stop(t), "\n")
		switch {
		case strings.Contains(pkts, "Flags [R"):
			return "RST"
		case pkts == "":
			return "nothing"
		}
		return pkts
	}
	for _, v6 := range []bool{false, true} {
		for _, md5 := range []bool{false, true} {
			u, h := answer(v6, unused, md5), answer(v6, servicePort, md5)
			t.Logf("SYN (MD5 option: %v, IPv6: %v): unused tcp/%d -> %s, protected tcp/%d -> %s", md5, v6, unused, u, servicePort, h)
			if u != h {
				t.Errorf("a SYN (MD5 option: %v, IPv6: %v) tells protected from unused ports: protected tcp/%d answers %s, unused tcp/%d answers %s", md5, v6, servicePort, h, unused, u)
			}
		}
	}
}
