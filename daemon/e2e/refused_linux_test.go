package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// configText is the lab's hypd.toml: its interface, the service protected, its keys and state.
func (g *gateway) configText() string {
	return fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = '%s'\nstate_dir = '%s'\n", netlab.Iface, servicePort, g.keys, g.state)
}

// configIn writes text as hypd.toml (mode 0600) in a new directory etc of the test's own and
// returns both paths.
func (g *gateway) configIn(text string) (etc, conf string) {
	g.t.Helper()
	etc = filepath.Join(g.dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		g.t.Fatal(err)
	}
	conf = filepath.Join(etc, "hypd.toml")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		g.t.Fatal(err)
	}
	return etc, conf
}

// runRefused runs hypd run with conf at a boot (the table deleted first) and wants it refused as
// a failed start is: exit 2, the refusal naming want, and the protection in place. It returns
// what hypd said.
func (g *gateway) runRefused(conf, want string) string {
	g.t.Helper()
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	out := string(b)
	checkRace(g.t, out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, want) || !strings.Contains(out, "the protection is in place") {
		g.t.Fatalf("hypd run --config %s: %v; want exit 2, %q and the protection in place:\n%s", conf, err, want, out)
	}
	return out
}

// wantServiceHidden fails unless the lab's service is in the protected set and the attacker
// cannot reach it.
func (g *gateway) wantServiceHidden(t *testing.T, what string) {
	t.Helper()
	if !strings.Contains(g.nftSet("protected"), fmt.Sprintf("6 . %d", servicePort)) {
		t.Fatalf("%s: tcp/%d not hidden:\n%s", what, servicePort, g.ruleset())
	}
	l := g.lab
	assertHidden(t, probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()})
}
