package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// F5a of the attacker review: a config file that another user owns and anybody may write
// (uid 65534, mode 0666) passed hypd run, so its owner could add public = [...] and un-hide a
// protected service. It is refused now, and refused as a failed start is: hypd exits with the
// last protection in place (the start after a reboot), or runs on with the last good
// configuration (a reload).
func TestConfigOthersCanWriteKeepsServicesHidden(t *testing.T) {
	g := newGateway(t, 32)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	good := g.configText()
	_, conf := g.configIn(good)
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	assertHidden(t, attacker)

	// What the file's other owner writes: the protected service made public.
	opened := strings.Replace(good, "services = ", "public = ", 1)
	loosen := func() {
		t.Helper()
		if err := os.WriteFile(conf, []byte(opened), 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(conf, 0o666); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(conf, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
	protected := func(what string) {
		t.Helper()
		if !strings.Contains(g.nftSet("protected"), fmt.Sprintf("6 . %d", servicePort)) {
			t.Fatalf("%s: tcp/%d not hidden:\n%s", what, servicePort, g.ruleset())
		}
		assertHidden(t, attacker)
	}

	// A reload: refused, hypd runs on with the last good configuration.
	loosen()
	out, code := g.hypdCmd("reload", "--socket", g.sock)
	if code == 0 || !strings.Contains(out, "owned by uid 65534") {
		t.Fatalf("reload of a config nobody owns: exit %d: %s", code, out)
	}
	protected("after the refused reload")

	// The start after a reboot: no table, hypd refuses the file and exits with the protection
	// of the last run in place.
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}
	g.runRefused(conf, "owned by uid 65534")
	protected("after the refused start")

	// Root's file, but group and others may write it: the same.
	if err := os.Chown(conf, 0, 0); err != nil {
		t.Fatal(err)
	}
	g.runRefused(conf, "chmod go-w "+conf)
	protected("after the refused start of a 0666 config")
}
