package e2e

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// TestV3ProbesAnswerAlike (attacker review, h-attack2): with a v3 key loaded, datagrams of 0, 1,
// 8 (a wrong tag, and the right tag at the wrong port) and 16 payload bytes to a port of the live
// sequence and to a random port draw nothing from the gateway; 17 bytes (not a knock) to either
// draws the same ICMP port unreachable. So a prober cannot tell a live v3 port from another.
func TestV3ProbesAnswerAlike(t *testing.T) {
	g := newGateway(t, 7)
	l := g.lab
	out, err := exec.Command(bin("hypd"), "secret", "new", "laptop", "--keys", g.keys, "--host", l.GatewayIP().String(), "--scheme", "v3", "--no-check").Output()
	if err != nil {
		t.Fatalf("hypd secret new: %v", describe(err))
	}
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	p := parseURI(t, string(out))
	now := time.Now().Unix()
	ports, err := sequence.PortsAt(p.Key, p.Params, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := sequence.TagsAt(p.Key, p.Params, now, 0)
	if err != nil {
		t.Fatal(err)
	}
	random := uint16(20000 + rand.IntN(30000))
	for slices.Contains(ports, random) {
		random++
	}
	mac, err := l.Gateway.MAC()
	if err != nil {
		t.Fatal(err)
	}
	filter := fmt.Sprintf("ether src %s and ip and dst host %s", mac, l.AttackerIP())
	tag1 := binary.BigEndian.AppendUint64(nil, tags[len(tags)-1])
	wrong := binary.BigEndian.AppendUint64(nil, rand.Uint64())

	c := startCapture(t, l.Attacker, filter)
	for _, port := range []uint16{ports[0], ports[len(ports)-1], random} {
		send(t, l.Attacker, netip.Addr{}, l.GatewayIP(), nil, port)
		send(t, l.Attacker, netip.Addr{}, l.GatewayIP(), []byte{0}, port)
		send(t, l.Attacker, netip.Addr{}, l.GatewayIP(), wrong, port)
		if port != ports[len(ports)-1] {
			send(t, l.Attacker, netip.Addr{}, l.GatewayIP(), tag1, port) // a live tag at another port
		}
		send(t, l.Attacker, netip.Addr{}, l.GatewayIP(), make([]byte, 16), port)
	}
	time.Sleep(time.Second)
	if pkts := c.stop(t); len(pkts) != 0 {
		t.Errorf("the gateway answered knock-sized probes:\n%s", strings.Join(pkts, "\n"))
	}
	for _, port := range []uint16{ports[0], random} {
		c = startCapture(t, l.Attacker, filter)
		send(t, l.Attacker, netip.Addr{}, l.GatewayIP(), make([]byte, 17), port)
		waitfor.Until(2*time.Second, func() bool { return strings.Contains(c.p.Output(), "unreachable") })
		if pkts := c.stop(t); len(pkts) != 1 || !strings.Contains(pkts[0], "unreachable") {
			t.Errorf("a 17-byte datagram to port %d (live v3 port: %v) drew %q; want one ICMP port unreachable", port, port == ports[0], pkts)
		}
	}
	if st := g.status(); st.Server.Grants != 0 || st.Detector.Completions != 0 {
		t.Errorf("probes completed something: %+v", st.Detector)
	}
}
