package e2e

import (
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// TestV3ReplayAfterRestartOpensNothing (attacker review, h-attack2): a captured v3 knock replayed
// from the attacker's address after hypd was killed and started again (the spent log, not the
// kernel's SEQ_SPENT, carries the use across) opens nothing; nor does it before the restart.
func TestV3ReplayAfterRestartOpensNothing(t *testing.T) {
	g := newGateway(t, 9)
	l := g.lab
	out, err := exec.Command(bin("hypd"), "secret", "new", "laptop", "--keys", g.keys, "--host", l.GatewayIP().String(), "--scheme", "v3", "--no-check").Output()
	if err != nil {
		t.Fatalf("hypd secret new: %v", describe(err))
	}
	p := parseURI(t, string(out))
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	c := v3Knock(t, p.Key, p.Params.Realm, time.Now(), 0)
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	sendV3(t, l.Client, l.ClientIP(), l.GatewayIP(), c)
	waitOpen(t, client, 2*time.Second)
	waitGrants(t, g, 1)

	before := g.status()
	sendV3(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), c)
	st := g.decided(before, len(c.Ports))
	assertNoGrantIn(t, st, l.AttackerIP())
	assertHidden(t, attacker)

	// Crash and start again: the table stays, the detector is new.
	g.mu.Lock()
	old := g.hypd
	g.hypd = nil
	g.mu.Unlock()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	checkRace(t, old.Output())
	g.restart()
	before = g.status()
	sendV3(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), c)
	st = g.decided(before, len(c.Ports))
	assertNoGrantIn(t, st, l.AttackerIP())
	if st.Server.Grants != 0 {
		t.Errorf("the replay after the restart granted: %+v", st.Grants)
	}
	assertHidden(t, attacker)
}
