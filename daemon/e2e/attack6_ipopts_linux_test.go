package e2e

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// The sixth attacker review. Promise 1: no probe answer may depend on what is protected. The
// kernel's RST for an unused port goes out through ip_send_unicast_reply, which echoes the SYN's
// IPv4 options (__ip_options_echo: a Record Route or Timestamp option comes back in the RST's
// header, with the gateway's address recorded). nftables' reject (nf_send_reset) builds a bare
// 20-byte header. A SYN with a Record Route option so draws an RST with options from an unused
// port and one without from a protected port: one SYN per port tells anyone on the internet
// which ports are hidden.
func TestAttack6IPv4OptionsSYNShowsProtectedTCPPorts(t *testing.T) {
	const unused = 40008
	g, gwMAC, atMAC := probeLab(t, 173, fmt.Sprintf("tcp/%d", servicePort))
	l := g.lab
	// Record Route with room for one address, then end of options: 8 bytes.
	rr := []byte{7 /* IPOPT_RR */, 7, 4, 0, 0, 0, 0, 0}
	answer := func(port uint16, opts []byte) string {
		p, err := l.Attacker.Start("tcpdump", "-l", "-n", "-v", "-i", netlab.Iface, fmt.Sprintf("ether src %s and ip and tcp", gwMAC))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Kill() })
		if err := p.WaitOutput("listening on", 5*time.Second); err != nil {
			t.Fatal(err)
		}
		c := &capture{p: p}
		b := make([]byte, 20)
		binary.BigEndian.PutUint16(b[0:], 40126)
		binary.BigEndian.PutUint16(b[2:], port)
		binary.BigEndian.PutUint32(b[4:], 0x01020304)
		b[12], b[13] = 5<<4, 0x02
		binary.BigEndian.PutUint16(b[14:], 64240)
		pkt := rawL4{proto: unix.IPPROTO_TCP, b: b, ipOpts: opts}
		if err := l.Attacker.Do(func() error { return sendRaw(gwMAC, atMAC, l.AttackerIP(), l.GatewayIP(), pkt) }); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		pkts := strings.Join(c.stop(t), "\n")
		switch {
		case pkts == "":
			return "nothing"
		case !strings.Contains(pkts, "Flags [R"):
			return pkts
		case strings.Contains(pkts, "options ("):
			return "RST with IP options"
		}
		return "RST without IP options"
	}
	for _, s := range []struct {
		name string
		opts []byte
	}{{"plain SYN", nil}, {"SYN with a Record Route option", rr}} {
		u, h := answer(unused, s.opts), answer(servicePort, s.opts)
		t.Logf("%s: unused tcp/%d -> %s, protected tcp/%d -> %s", s.name, unused, u, servicePort, h)
		if u != h {
			t.Errorf("a %s tells protected from unused ports: protected tcp/%d answers %s, unused tcp/%d answers %s", s.name, servicePort, h, unused, u)
		}
	}
}
