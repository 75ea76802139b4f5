package e2e

import (
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// TestKnockV3OpensForTheClient walks the main path with a v3 key: hypd loads the sequences' tags
// into the kernel, `hyp knock` sends each port with its tag, and the client's address is let in.
// The same ports sent without the tags (what an observer who kept only the ports could send)
// complete nothing.
func TestKnockV3OpensForTheClient(t *testing.T) {
	g := newGateway(t, 1)
	l := g.lab
	out, err := exec.Command(bin("hypd"), "secret", "new", "laptop", "--keys", g.keys, "--host", l.GatewayIP().String(), "--scheme", "v3", "--no-check").Output()
	if err != nil {
		t.Fatalf("hypd secret new --scheme v3: %v", describe(err))
	}
	uri := string(out)
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")

	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	assertHidden(t, client, attacker)

	k := g.knock(l.Client, uri)
	took := waitOpen(t, client, time.Second)
	t.Logf("v3: answered %v after hyp knock returned", took)
	waitGrants(t, g, 1)
	assertHidden(t, attacker)

	before := g.status()
	send(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), nil, k.ports...)
	after := g.settle(before, len(k.ports))
	if after.Detector.Completions != before.Detector.Completions {
		t.Errorf("the ports without their tags completed a sequence: completions %d -> %d",
			before.Detector.Completions, after.Detector.Completions)
	}
	assertHidden(t, attacker)
	assertNoGrantIn(t, after, l.AttackerIP())
}
