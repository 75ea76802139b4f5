package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The third attacker review: a user who owns the directory holding hypd.toml cannot edit root's
// file, but can rename another root-owned file over it, such as an old config that made the
// service public. hypd refuses a config whose way another user can change, and refuses it as a
// failed start is: it exits with the last protection in place, the service stays hidden.
func TestConfigInAnotherUsersDirectoryKeepsServicesHidden(t *testing.T) {
	g := newGateway(t, 73)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	good := g.configText()
	old := strings.Replace(good, "services = ", "public = ", 1)
	etc, conf := g.configIn(good)
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
	g.runRefused(conf, "chown root "+etc)
	g.wantServiceHidden(t, "after the refused start")
}
