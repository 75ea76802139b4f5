package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// nmapPorts is the part of nmap's XML output the default-mode tests read: per port the state,
// the reason and the TTL (hop limit) of the answer that gave the reason.
type nmapPorts struct {
	Hosts []struct {
		Ports []struct {
			Port  int `xml:"portid,attr"`
			State struct {
				State  string `xml:"state,attr"`
				Reason string `xml:"reason,attr"`
				TTL    string `xml:"reason_ttl,attr"`
			} `xml:"state"`
		} `xml:"ports>port"`
	} `xml:"host"`
}

// nmapAt scans target from the attacker and returns "state (reason, ttl N)" per port.
func nmapAt(t *testing.T, l *netlab.Lab, target netip.Addr, args ...string) map[int]string {
	t.Helper()
	all := []string{"-n", "-Pn", "--max-retries", "1", "--host-timeout", "60s", "-oX", "-"}
	if target.Is6() {
		all = append(all, "-6")
	}
	all = append(append(all, args...), target.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := l.Attacker.Command(ctx, "nmap", all...).Output()
	if err != nil {
		t.Fatalf("nmap %s: %v", strings.Join(all, " "), describe(err))
	}
	var run nmapPorts
	if err := xml.Unmarshal(out, &run); err != nil {
		t.Fatalf("nmap output: %v\n%s", err, out)
	}
	states := map[int]string{}
	for _, h := range run.Hosts {
		for _, p := range h.Ports {
			states[p.Port] = fmt.Sprintf("%s (%s, ttl %s)", p.State.State, p.State.Reason, p.State.TTL)
		}
	}
	return states
}

// TestProbeDefaultScanSeesProtectedLikeUnused: with default settings (no stealth) nmap's SYN,
// connect and UDP scans, over IPv4 and IPv6, report a protected port exactly as the unused ports
// on either side of it: state, reason and the TTL of the answer. tcp/2222 and udp/2222 are
// protected, and both have a listening service; 2221 and 2223 have none. Empty datagrams (the
// size of a knock) draw nothing from any of the three; 32-byte ones draw an ICMP port
// unreachable from all three.
func TestProbeDefaultScanSeesProtectedLikeUnused(t *testing.T) {
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Fatal("nmap is not installed (.ci/test installs it: HYP_TOOLS in .ci/lib.sh)")
	}
	const below, above = servicePort - 1, servicePort + 1
	g := newGateway(t, 60)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	udp, err := l.Gateway.ListenPacket("udp", fmt.Sprintf(":%d", servicePort))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	g.start("--services", fmt.Sprintf("tcp/%d,udp/%d", servicePort, servicePort), "--open", "30s")

	ports := fmt.Sprintf("%d-%d", below, above)
	scans := []struct {
		name string
		args []string
		want string // every port's state and reason
	}{
		{"-sS", []string{"-sS", "-p", ports}, "closed (reset"},
		{"-sT", []string{"-sT", "-p", ports}, "closed (conn-refused"},
		{"-sU", []string{"-sU", "-p", ports}, "open|filtered (no-response"},
		// Too long to be knocks: they pass the detector and reach the firewall and the stack.
		{"-sU --data-length 32", []string{"-sU", "--data-length", "32", "-p", ports}, "closed (port-unreach"},
	}
	type result struct {
		scan, family string
		states       map[int]string
	}
	var (
		mu  sync.Mutex
		res []result
		wg  sync.WaitGroup
	)
	for _, target := range []netip.Addr{l.GatewayIP(), l.GatewayIP6()} {
		family := "IPv4"
		if target.Is6() {
			family = "IPv6"
		}
		for _, s := range scans {
			wg.Go(func() {
				st := nmapAt(t, l, target, s.args...)
				mu.Lock()
				res = append(res, result{s.name, family, st})
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	if len(res) != 2*len(scans) {
		t.Fatalf("%d scans finished, want %d", len(res), 2*len(scans))
	}
	for _, r := range res {
		b, p, a := r.states[below], r.states[servicePort], r.states[above]
		t.Logf("nmap %s %s: %d %s, %d %s, %d %s", r.family, r.scan, below, b, servicePort, p, above, a)
		if p != b || p != a {
			t.Errorf("nmap %s over %s: protected port %d is %q, unused ports %d %q and %d %q; want all alike",
				r.scan, r.family, servicePort, p, below, b, above, a)
		}
		var want string
		for _, s := range scans {
			if s.name == r.scan {
				want = s.want
			}
		}
		if !strings.HasPrefix(b, want) {
			t.Errorf("nmap %s over %s: unused port %d is %q, want %s...)", r.scan, r.family, below, b, want)
		}
	}
}

// answerRE finds the tcpdump fields that differ between any two answers, whoever sends them:
// checksums (a veth leaves them to offload), ack numbers (the probes' random sequence numbers),
// ports, and the flow label's value (a hash of the flow: only its presence must match).
var answerRE = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`cksum 0x[0-9a-f]+ \((correct|incorrect -> 0x[0-9a-f]+)\)`), "cksum"},
	{regexp.MustCompile(`\[(bad udp cksum 0x[0-9a-f]+ -> 0x[0-9a-f]+!|udp sum ok)\] `), ""},
	{regexp.MustCompile(`\[icmp6 sum ok\] `), ""},
	{regexp.MustCompile(`ack \d+`), "ack A"},
	{regexp.MustCompile(`flowlabel 0x[0-9a-f]+`), "flowlabel L"},
	{regexp.MustCompile(`(\d+\.\d+\.\d+\.\d+|[0-9a-f]*:[0-9a-f:]*[0-9a-f])\.\d+`), "$1.PORT"},
	{regexp.MustCompile(`port \d+`), "port P"},
}

// icmpIDRE: the IP ID of an ICMP error, and of the datagram it quotes, count up per message.
var icmpIDRE = regexp.MustCompile(`id \d+`)

// TestProbeAnswersAreTheKernels: without stealth, the RST that refuses a SYN to a protected port
// and the ICMP error that answers a datagram to it are, field by field as tcpdump -v prints
// them, the answers the kernel sends for the unused port beside it (TTL or hop limit, IP ID and
// DF, TOS, window, flags, flow label, the quoted datagram), over IPv4 and IPv6.
func TestProbeAnswersAreTheKernels(t *testing.T) {
	const unused = servicePort - 1
	g := newGateway(t, 61)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	udp, err := l.Gateway.ListenPacket("udp", fmt.Sprintf(":%d", servicePort))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	g.start("--services", fmt.Sprintf("tcp/%d,udp/%d", servicePort, servicePort), "--open", "30s")
	mac, err := l.Gateway.MAC()
	if err != nil {
		t.Fatal(err)
	}
	// What the gateway sends: TCP, and ICMP errors (ICMPv6 types below 128, so no neighbour discovery).
	filter := fmt.Sprintf("ether src %s and ((ip and (tcp or icmp)) or (ip6 and (tcp or (icmp6 and ip6[40] < 128))))", mac)
	p, err := l.Attacker.Start("tcpdump", "-l", "-n", "-t", "-v", "-i", netlab.Iface, filter)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Kill() })
	if err := p.WaitOutput("listening on", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	type probe struct {
		family, kind string
		port         uint16
	}
	var sent []probe
	for _, to := range []netip.Addr{l.GatewayIP(), l.GatewayIP6()} {
		family := "IPv4"
		if to.Is6() {
			family = "IPv6"
		}
		for _, port := range []uint16{unused, servicePort} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			c, err := l.Attacker.Dial(ctx, "tcp", netip.AddrPortFrom(to, port), netip.Addr{})
			cancel()
			if err == nil {
				c.Close()
				t.Fatalf("%s tcp/%d: connected; want it refused", to, port)
			}
			sent = append(sent, probe{family, "RST", port})
		}
		for _, port := range []uint16{unused, servicePort} {
			send(t, l.Attacker, netip.Addr{}, to, make([]byte, 32), port)
			sent = append(sent, probe{family, "ICMP", port})
		}
	}
	packets := func() []string {
		var pkts []string
		for _, line := range strings.Split(p.Output(), "\n") {
			switch {
			case line == "" || strings.HasPrefix(line, "tcpdump:") || strings.HasPrefix(line, "listening on"),
				strings.Contains(line, "packets captured"), strings.Contains(line, "received by filter"), strings.Contains(line, "dropped by kernel"):
			case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
				if len(pkts) > 0 {
					pkts[len(pkts)-1] += " " + strings.TrimSpace(line)
				}
			default:
				pkts = append(pkts, line)
			}
		}
		return pkts
	}
	waitfor.Until(3*time.Second, func() bool { return len(packets()) >= len(sent) })
	if err := p.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-p.Done()
	pkts := packets()
	if len(pkts) != len(sent) {
		t.Fatalf("captured %d answers to %d probes:\n%s", len(pkts), len(sent), strings.Join(pkts, "\n"))
	}
	answer := map[probe]string{}
	for i, pkt := range pkts {
		if !strings.Contains(pkt+" ", fmt.Sprintf("port %d ", sent[i].port)) && !strings.Contains(pkt, fmt.Sprintf(".%d >", sent[i].port)) {
			t.Fatalf("answer %d is not about port %d: %s", i+1, sent[i].port, pkt)
		}
		norm := pkt
		for _, r := range answerRE {
			norm = r.re.ReplaceAllString(norm, r.with)
		}
		if sent[i].kind == "ICMP" {
			norm = icmpIDRE.ReplaceAllString(norm, "id N")
		}
		answer[sent[i]] = norm
	}
	for _, family := range []string{"IPv4", "IPv6"} {
		for _, kind := range []string{"RST", "ICMP"} {
			u, s := answer[probe{family, kind, unused}], answer[probe{family, kind, servicePort}]
			t.Logf("%s %s: %s", family, kind, s)
			if u != s {
				t.Errorf("%s %s for protected port %d differs from the unused port %d's:\nprotected: %s\nunused:    %s", family, kind, servicePort, unused, s, u)
			}
		}
	}
}
