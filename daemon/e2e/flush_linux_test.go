package e2e

import (
	"fmt"
	"testing"
	"time"
)

// An admin's `nft flush ruleset` (or Debian's nftables.service starting) deletes hypd's table;
// while hypd runs, the protected service must be hidden again within seconds, and knocks work.
func TestFlushedTableComesBack(t *testing.T) {
	g := newGateway(t, 8)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}

	if out, err := l.Gateway.Output("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("nft flush ruleset: %v: %s", err, out)
	}
	waitLog(t, hypd, "re-created", 10*time.Second)
	assertHidden(t, attacker, client)

	g.knock(l.Client, uri)
	waitOpen(t, client, time.Second)
	assertHidden(t, attacker)
}
