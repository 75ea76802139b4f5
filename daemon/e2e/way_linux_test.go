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

// The third attacker review: a user who owns the directory holding hypd.toml cannot edit root's
// file, but can rename another root-owned file over it, such as an old config that made the
// service public. hypd refuses a config whose way another user can change, and refuses it as a
// failed start is: it exits with the last protection in place, the service stays hidden.
func TestConfigInAnotherUsersDirectoryKeepsServicesHidden(t *testing.T) {
	g := newGateway(t, 73)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	etc := filepath.Join(g.dir, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(etc, "hypd.toml")
	good := fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = '%s'\nstate_dir = '%s'\n", netlab.Iface, servicePort, g.keys, g.state)
	old := strings.Replace(good, "services = ", "public = ", 1)
	if err := os.WriteFile(conf, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(etc, "hypd.toml.dpkg-old"), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	assertHidden(t, attacker)
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}

	// After a careless chown -R, the directory's owner renames the old root-owned config over
	// hypd.toml; then the machine reboots (no table).
	if err := os.Chown(etc, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(etc, "hypd.toml.dpkg-old"), conf); err != nil {
		t.Fatal(err)
	}
	l.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := l.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock).CombinedOutput()
	out := string(b)
	checkRace(t, out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "chown root "+etc) || !strings.Contains(out, "the protection is in place") {
		t.Fatalf("hypd run with a config in a directory uid 65534 owns: %v, want exit 2 naming %s with the protection in place:\n%s", err, etc, out)
	}
	if !strings.Contains(g.nftSet("protected"), fmt.Sprintf("6 . %d", servicePort)) {
		t.Fatalf("tcp/%d not hidden after the refused start:\n%s", servicePort, g.ruleset())
	}
	assertHidden(t, attacker)
}
