package e2e

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// replayLines returns hypd's "replay refused" log lines.
func replayLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `msg="replay refused"`) {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestReplayIsLoggedAndRefused: the client knocks and gets in; an attacker replays the exact
// datagrams from its own address. It does not get in, and hypd says so: one "replay refused"
// line with the key, the source and the window, one replay refused in the status and the
// metrics. A restarted hypd loads the spent sequence as spent and does the same.
func TestReplayIsLoggedAndRefused(t *testing.T) {
	g := newGateway(t, 84)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	p := parseURI(t, uri)
	g.startWithMetrics()
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	k := g.knock(l.Client, uri)
	waitOpen(t, client, time.Second)
	g.mu.Lock()
	hypd := g.hypd
	g.mu.Unlock()
	waitLog(t, hypd, "access granted", time.Second)

	for run := range 2 {
		if run == 1 {
			// Restart on the same state: the spent sequence comes back spent.
			if err := hypd.Stop(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			g.restart()
			g.mu.Lock()
			hypd = g.hypd
			g.mu.Unlock()
			if w := p.Params.Window(time.Now().Unix()); w > k.window+1 {
				t.Fatalf("window %d is no longer acceptable at %d; the test took too long", k.window, w)
			}
		}
		before := g.status()
		send(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), payload(p), k.ports...)
		st := g.settle(before, len(k.ports))
		waitLog(t, hypd, `msg="replay refused"`, 2*time.Second)
		assertHidden(t, attacker)
		assertNoGrantIn(t, g.status(), l.AttackerIP())

		lines := replayLines(hypd.Output())
		if len(lines) != 1 {
			t.Fatalf("run %d: %d replay lines, want 1:\n%s", run, len(lines), hypd.Output())
		}
		for _, want := range []string{"key=laptop", "source=" + l.AttackerIP().String() + " ", fmt.Sprintf("window=%d ", k.window)} {
			if !strings.Contains(lines[0], want) {
				t.Errorf("run %d: replay line lacks %q: %s", run, want, lines[0])
			}
		}
		wantGrants := uint64(1 - run) // the restarted hypd granted nothing
		if st.Server.ReplaysRefused != 1 || st.Server.Grants != wantGrants {
			t.Errorf("run %d: status replays refused %d, grants %d; want 1, %d", run, st.Server.ReplaysRefused, st.Server.Grants, wantGrants)
		}
		if m := g.metrics(); m["hyp_replays_refused_total"] != 1 || m["hyp_grants_total"] != float64(wantGrants) {
			t.Errorf("run %d: metrics replays refused %v, grants %v; want 1, %d", run, m["hyp_replays_refused_total"], m["hyp_grants_total"], wantGrants)
		}
		assertDecisionsAddUp(t, st)
	}
}

// TestReplayLoopFloodsNothing: an attacker replays a captured knock in a loop for a few seconds
// while another client knocks. Every replay is refused and counted (reported by the kernel at
// most once a second, the rest as unreported), hypd logs one line for it, and the other client's
// knock opens as usual.
func TestReplayLoopFloodsNothing(t *testing.T) {
	g := newGateway(t, 85)
	l := g.lab
	uriA := g.newKey("laptop", l.GatewayIP())
	uriB := g.newKey("desktop", l.GatewayIP())
	p := parseURI(t, uriA)
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	k := g.knock(l.Client, uriA)
	waitOpen(t, client, time.Second)
	waitLog(t, hypd, "access granted", time.Second)

	// The loop: the captured ports, as fast as one socket sends them, for about three seconds.
	c, err := l.Attacker.ListenPacket("udp4", netip.AddrPortFrom(l.AttackerIP(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before := g.status()
	var sent int
	loopErr := make(chan error, 1)
	go func() {
		defer close(loopErr)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			for _, port := range k.ports {
				if _, err := c.WriteTo(payload(p), udpAddr(l.GatewayIP(), port)); err != nil {
					loopErr <- err
					return
				}
			}
			sent++
			time.Sleep(200 * time.Microsecond)
		}
	}()
	// Meanwhile the client's other key opens as usual (a grant renews the client's element).
	time.Sleep(500 * time.Millisecond)
	g.knock(l.Client, uriB)
	waitLog(t, hypd, "key=desktop source="+l.ClientIP().String(), 2*time.Second)
	if err := <-loopErr; err != nil {
		t.Fatalf("replaying: %v", err)
	}
	st := g.settle(before, sent*len(k.ports))
	assertHidden(t, attacker)
	assertNoGrantIn(t, g.status(), l.AttackerIP())

	replays := st.Server.ReplaysRefused + st.Detector.ReplaysUnreported
	t.Logf("%d replays sent: %d reported and refused, %d unreported, ring buffer drops %d, %d log lines",
		sent, st.Server.ReplaysRefused, st.Detector.ReplaysUnreported, st.Detector.RingbufDrops, len(replayLines(hypd.Output())))
	if replays != uint64(sent) {
		t.Errorf("%d replays sent, %d refused + %d unreported; want every one accounted for", sent, st.Server.ReplaysRefused, st.Detector.ReplaysUnreported)
	}
	// About one report a second for three seconds; a few more where CPUs race.
	if st.Server.ReplaysRefused > 10 || st.Detector.RingbufDrops != 0 {
		t.Errorf("%d replays reached hypd, %d records dropped; want a few (one a second) and none", st.Server.ReplaysRefused, st.Detector.RingbufDrops)
	}
	if n := len(replayLines(hypd.Output())); n != 1 {
		t.Errorf("%d replay lines for one key and window in three seconds, want 1", n)
	}
	if st.Server.Grants != 2 {
		t.Errorf("grants %d, want 2 (laptop, then desktop during the loop)", st.Server.Grants)
	}
}
