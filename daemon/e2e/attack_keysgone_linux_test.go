package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// TestKeysDirectoryGoneKeepsProtection (attacker review, h-attack2): the only thing that names
// the service is a key file. The keys directory is renamed away and never comes back; hypd drops
// the key after the swap grace, keeps the service hidden ("kept"), and a hypd restarted without
// the directory hides it from its start on.
func TestKeysDirectoryGoneKeepsProtection(t *testing.T) {
	g := newGateway(t, 8)
	l := g.lab
	svc := fmt.Sprintf("tcp/%d", servicePort)
	if out, err := exec.Command(bin("hypd"), "secret", "new", "alice", "--keys", g.keys, "--host", l.GatewayIP().String(), "--scheme", "v3", "--services", svc, "--no-check").Output(); err != nil {
		t.Fatalf("hypd secret new: %v %s", describe(err), out)
	}
	g.start()
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	assertHidden(t, attacker)
	if err := os.Rename(g.keys, g.keys+".gone"); err != nil {
		t.Fatal(err)
	}
	waitfor.For(t, "the key dropped after the keys directory went", 6*time.Second, func() bool { return len(g.status().Keys) == 0 })
	if p := g.status().Protected; len(p) != 1 || p[0].Service != svc {
		t.Fatalf("protected after the keys directory went: %+v; want %s kept", p, svc)
	}
	assertHidden(t, attacker)
	// Power off and on: hypd gone, its table with it (as boot_linux_test.go's reboot).
	g.mu.Lock()
	old := g.hypd
	g.hypd = nil
	g.mu.Unlock()
	if err := old.Kill(); err != nil {
		t.Fatal(err)
	}
	checkRace(t, old.Output())
	if _, err := l.Gateway.Output("nft", "delete", "table", "inet", "hyp"); err != nil {
		t.Fatal(err)
	}
	g.restart()
	assertHidden(t, attacker)
	if p := g.status().Protected; len(p) != 1 || p[0].Service != svc {
		t.Fatalf("protected after a restart without the keys directory: %+v; want %s kept", p, svc)
	}
}
