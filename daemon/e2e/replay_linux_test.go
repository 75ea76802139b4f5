package e2e

import (
	"fmt"
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
		assertNoGrantFor(t, hypd.Output(), l.AttackerIP())

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
