package e2e

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/netlab"
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
