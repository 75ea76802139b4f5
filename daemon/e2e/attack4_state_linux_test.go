package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// The fourth attacker review: hypd refuses a hypd.toml that another user may write, and fails
// closed with the last protection; but that refused file must not choose where the last
// protection is read from. Here the user who can write it (uid 65534, after a careless chmod)
// points state_dir at a directory of theirs holding a protection.json that makes the service
// public; then the machine reboots (no table). The service must stay hidden.
func TestRefusedConfigDoesNotChooseTheLastProtection(t *testing.T) {
	g := newGateway(t, 128)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	etc := filepath.Join(g.dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(etc, "hypd.toml")
	good := fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = '%s'\nstate_dir = '%s'\n", netlab.Iface, servicePort, g.keys, g.state)
	if err := os.WriteFile(conf, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	assertHidden(t, attacker)
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}

	// The user's own directory and last protection, and the config pointed at it.
	theirs := filepath.Join(g.dir, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := fmt.Sprintf(`{"version":1,"protected":[],"public":["tcp/%d"],"stealth":false}`, servicePort)
	if err := os.WriteFile(filepath.Join(theirs, "protection.json"), []byte(fake), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{theirs, filepath.Join(theirs, "protection.json")} {
		if err := os.Chown(p, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(conf, []byte(strings.Replace(good, g.state, theirs, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	l.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, _ := l.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock).CombinedOutput()
	out := string(b)
	checkRace(t, out)
	if !strings.Contains(out, "chmod go-w "+conf) {
		t.Fatalf("hypd run with a config others may write: want it refused naming chmod go-w %s:\n%s", conf, out)
	}
	set, err := l.Gateway.Output("nft", "-p", "list", "set", "inet", "hyp", "protected")
	if err != nil || !strings.Contains(string(set), fmt.Sprintf("6 . %d", servicePort)) {
		t.Fatalf("tcp/%d not hidden after the refused start (the refused config chose the state directory): %v\n%s\nhypd run said:\n%s", servicePort, err, set, out)
	}
	assertHidden(t, attacker)
}
