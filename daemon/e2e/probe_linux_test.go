package e2e

import (
	"bufio"
	"context"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// capture is tcpdump running in a namespace, printing one line per packet that matches.
type capture struct {
	p *netlab.Process
}

// startCapture runs tcpdump on the namespace's lab interface with filter and waits until it
// listens.
func startCapture(t *testing.T, ns *netlab.NS, filter string) *capture {
	t.Helper()
	p, err := ns.Start("tcpdump", "-l", "-n", "-i", netlab.Iface, filter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	if err := p.WaitOutput("listening on", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return &capture{p: p}
}

// stop ends the capture and returns the packet lines.
func (c *capture) stop(t *testing.T) []string {
	t.Helper()
	if err := c.p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.p.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("tcpdump did not stop on SIGINT")
	}
	var pkts []string
	sc := bufio.NewScanner(strings.NewReader(c.p.Output()))
	for sc.Scan() {
		l := sc.Text()
		// tcpdump's own chatter: "listening on ...", "N packets captured", and so on.
		if strings.HasPrefix(l, "tcpdump:") || strings.HasPrefix(l, "listening on") || strings.Contains(l, "packets ") || strings.Contains(l, "packet ") || l == "" {
			continue
		}
		pkts = append(pkts, l)
	}
	return pkts
}

// TestProbesDrawNoReply: empty datagrams to a port of the current knock sequence, and to a random
// port, over IPv4 and IPv6, draw nothing at all from the gateway — in particular no ICMP port
// unreachable, which would tell a prober which ports are not knock ports. A larger datagram
// (not a possible knock) to a closed port does draw the kernel's ICMP error, which shows the
// capture would have seen one.
func TestProbesDrawNoReply(t *testing.T) {
	g := newGateway(t, 6)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	p := parseURI(t, uri)
	ports, err := sequence.PortsAt(p.Key, p.Params, time.Now().Unix(), 0)
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
	// Everything the gateway sends to the attacker's addresses, except neighbour discovery (ARP is
	// not IP; ICMPv6 types 133-137 answer "who has this address", which any host must).
	filter := fmt.Sprintf("ether src %s and ((ip and dst host %s) or (ip6 and dst host %s and not (icmp6 and ip6[40] >= 133 and ip6[40] <= 137)))",
		mac, l.AttackerIP(), l.AttackerIP6())

	c := startCapture(t, l.Attacker, filter)
	for _, port := range []uint16{ports[0], ports[len(ports)-1], random} {
		for _, to := range []netip.Addr{l.GatewayIP(), l.GatewayIP6()} {
			send(t, l.Attacker, netip.Addr{}, to, nil, port)
			send(t, l.Attacker, netip.Addr{}, to, []byte{0}, port)
			send(t, l.Attacker, netip.Addr{}, to, make([]byte, 16), port)
		}
	}
	time.Sleep(time.Second)
	if pkts := c.stop(t); len(pkts) != 0 {
		t.Errorf("the gateway answered knock-sized probes to ports %d, %d (knock) and %d (random):\n%s",
			ports[0], ports[len(ports)-1], random, strings.Join(pkts, "\n"))
	}
	if seen := g.status().Detector.Seen; seen < 18 {
		t.Errorf("the detector saw %d datagrams, want at least the 18 probes", seen)
	}

	c = startCapture(t, l.Attacker, filter)
	send(t, l.Attacker, netip.Addr{}, l.GatewayIP(), make([]byte, 32), random)
	waitfor.Until(2*time.Second, func() bool { return strings.Contains(c.p.Output(), "unreachable") })
	pkts := c.stop(t)
	if len(pkts) == 0 || !strings.Contains(strings.Join(pkts, "\n"), "unreachable") {
		t.Errorf("control: a 32-byte datagram to closed port %d drew no ICMP port unreachable; captured %q", random, pkts)
	}
}

// nmapRun is the part of nmap's XML output we read.
type nmapRun struct {
	Hosts []struct {
		Ports []struct {
			Protocol string `xml:"protocol,attr"`
			Port     int    `xml:"portid,attr"`
			State    struct {
				State  string `xml:"state,attr"`
				Reason string `xml:"reason,attr"`
			} `xml:"state"`
		} `xml:"ports>port"`
	} `xml:"host"`
}

// nmap scans the gateway from the attacker and returns "state (reason)" per port.
func nmap(t *testing.T, l *netlab.Lab, args ...string) map[int]string {
	t.Helper()
	all := append([]string{"-n", "-Pn", "--max-retries", "1", "--host-timeout", "30s", "-oX", "-"}, args...)
	all = append(all, l.GatewayIP().String())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := l.Attacker.Command(ctx, "nmap", all...).Output()
	if err != nil {
		t.Fatalf("nmap %s: %v", strings.Join(all, " "), describe(err))
	}
	var run nmapRun
	if err := xml.Unmarshal(out, &run); err != nil {
		t.Fatalf("nmap output: %v\n%s", err, out)
	}
	states := map[int]string{}
	for _, h := range run.Hosts {
		for _, p := range h.Ports {
			states[p.Port] = p.State.State + " (" + p.State.Reason + ")"
		}
	}
	return states
}

// TestStealthScanSeesProtectedLikeUnused: with --stealth a SYN scan and a UDP scan report a
// protected port exactly like an unused one, both silent; without it, both are closed: an RST
// answers a SYN and an ICMP error a datagram too big to be a knock (probe_default_linux_test.go
// compares the default mode more closely).
func TestStealthScanSeesProtectedLikeUnused(t *testing.T) {
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Fatal("nmap is not installed (.ci/test installs it: HYP_TOOLS in .ci/lib.sh)")
	}
	const (
		udpService = 51820
		unusedTCP  = servicePort + 1
		unusedUDP  = udpService + 1
	)
	g := newGateway(t, 7)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	udp, err := l.Gateway.ListenPacket("udp", fmt.Sprintf(":%d", udpService))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	services := fmt.Sprintf("tcp/%d,udp/%d", servicePort, udpService)
	tcpPorts := fmt.Sprintf("%d,%d", servicePort, unusedTCP)
	udpPorts := fmt.Sprintf("%d,%d", udpService, unusedUDP)

	type scan struct {
		name string
		args []string
		a, b int
	}
	scans := []scan{
		{"-sS", []string{"-sS", "-p", tcpPorts}, servicePort, unusedTCP},
		{"-sU", []string{"-sU", "-p", udpPorts}, udpService, unusedUDP},
		// Datagrams too long to be knocks pass the detector and reach the firewall and the stack.
		{"-sU --data-length 32", []string{"-sU", "--data-length", "32", "-p", udpPorts}, udpService, unusedUDP},
	}
	runScans := func() map[string][2]string {
		res := map[string][2]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, s := range scans {
			wg.Go(func() {
				st := nmap(t, l, s.args...)
				mu.Lock()
				res[s.name] = [2]string{st[s.a], st[s.b]}
				mu.Unlock()
			})
		}
		wg.Wait()
		for _, s := range scans {
			t.Logf("nmap %s: %d %s, %d %s", s.name, s.a, res[s.name][0], s.b, res[s.name][1])
		}
		return res
	}

	t.Log("without --stealth")
	hypd := g.start("--services", services, "--open", "30s")
	plain := runScans()
	if got := plain["-sS"]; !strings.HasPrefix(got[0], "closed") || !strings.HasPrefix(got[1], "closed") {
		t.Errorf("without stealth, -sS: protected %q, unused %q; want both closed", got[0], got[1])
	}
	if got := plain["-sU --data-length 32"]; !strings.HasPrefix(got[0], "closed") || !strings.HasPrefix(got[1], "closed") {
		t.Errorf("without stealth, -sU with 32-byte data: protected %q, unused %q; want both closed", got[0], got[1])
	}

	if err := hypd.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Gateway.Output(bin("hypd"), "cleanup"); err != nil {
		t.Fatalf("hypd cleanup: %v %s", err, out)
	}
	t.Log("with --stealth")
	g.start("--services", services, "--open", "30s", "--stealth")
	stealth := runScans()
	for _, s := range scans {
		got := stealth[s.name]
		if got[0] != got[1] {
			t.Errorf("with stealth, nmap %s: protected port %d is %q, unused port %d is %q; want them alike", s.name, s.a, got[0], s.b, got[1])
		}
		want := "filtered"
		if s.args[0] == "-sU" {
			want = "open|filtered"
		}
		if !strings.HasPrefix(got[0], want+" ") {
			t.Errorf("with stealth, nmap %s: %q, want %s", s.name, got[0], want)
		}
	}
}
