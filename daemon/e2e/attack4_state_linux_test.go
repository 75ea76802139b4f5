package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fourth attacker review: hypd refuses a hypd.toml that another user may write, and fails
// closed with the last protection; but that refused file must not choose where the last
// protection is read from. Here the user who can write it (uid 65534, after a careless chmod)
// points state_dir at a directory of theirs holding a protection.json that makes the service
// public; then the machine reboots (no table). The service stays hidden: hypd reads the state
// directory the file named when it last trusted it (config.RecordRun).
func TestRefusedConfigDoesNotChooseTheLastProtection(t *testing.T) {
	g := newGateway(t, 128)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	good := g.configText()
	_, conf := g.configIn(good)
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	g.wantServiceHidden(t, "hypd running")
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
	g.runRefused(conf, "chmod go-w "+conf)
	g.wantServiceHidden(t, "after the refused start (did the refused config choose the state directory?)")
}

// On a first boot there is no saved protection yet: a hypd.toml refused because others may write
// it is then the one thing that says what to hide. Its services are hidden (hiding more only
// waits for the admin's chmod).
func TestRefusedConfigOnFirstBootHidesItsServices(t *testing.T) {
	g := newGateway(t, 129)
	_, conf := g.configIn(g.configText())
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	g.runRefused(conf, "chmod go-w "+conf)
	g.wantServiceHidden(t, "a first boot with a refused config that names it")
}
