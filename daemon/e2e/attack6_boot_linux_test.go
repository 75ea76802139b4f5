package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// The sixth attacker review. Promise 2: a config typo at boot leaves every protected service
// hidden. The fifth review's fix reads a typo'd file's services line by a regex that stops at the
// first ']': an admin's comment with a bracket in it between two entries (a ticket number, "[ssh]")
// cuts the list there, and on a first boot the services after it stay reachable to everyone while
// hypd says the protection is in place.
func TestAttack6TOMLTypoWithBracketCommentOnFirstBoot(t *testing.T) {
	g := newGateway(t, 172)
	text := fmt.Sprintf("interfaces = [%q]\nservices = [\n  \"tcp/2200\",  # old ssh [retired, see ticket 12]\n  \"tcp/%d\",\n]\nkeys_dir = '%s'\nstate_dir = '%s'\nopen = 5m\n",
		netlab.Iface, servicePort, g.keys, g.state)
	_, conf := g.configIn(text)
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	checkRace(t, string(out))
	if !strings.Contains(string(out), "durations are quoted strings") {
		t.Fatalf("hypd run with a typo: want the typo named:\n%s", out)
	}
	if _, err := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil {
		t.Fatalf("a first boot with a typo: no table at all; hypd said:\n%s", out)
	}
	t.Logf("hypd said:\n%s", out)
	g.wantServiceHidden(t, "a first boot with a typo in a config whose services list has a comment with a ']' before it")
}
