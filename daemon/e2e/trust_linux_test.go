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

// F5a of the attacker review: a config file that another user owns and anybody may write
// (uid 65534, mode 0666) passed hypd run, so its owner could add public = [...] and un-hide a
// protected service. It is refused now, and refused as a failed start is: hypd exits with the
// last protection in place (the start after a reboot), or runs on with the last good
// configuration (a reload).
func TestConfigOthersCanWriteKeepsServicesHidden(t *testing.T) {
	g := newGateway(t, 32)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	conf := filepath.Join(g.dir, "hypd.toml")
	good := fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = '%s'\nstate_dir = '%s'\n", netlab.Iface, servicePort, g.keys, g.state)
	if err := os.WriteFile(conf, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
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
	l.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := l.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock).CombinedOutput()
	out = string(b)
	checkRace(t, out)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "owned by uid 65534") || !strings.Contains(out, "the protection is in place") {
		t.Fatalf("hypd run with a config nobody owns: %v, want exit 2 with the protection in place:\n%s", err, out)
	}
	protected("after the refused start")

	// Root's file, but group and others may write it: the same.
	if err := os.Chown(conf, 0, 0); err != nil {
		t.Fatal(err)
	}
	l.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	b, err = l.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock).CombinedOutput()
	out = string(b)
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "chmod go-w "+conf) || !strings.Contains(out, "the protection is in place") {
		t.Fatalf("hypd run with a 0666 config: %v, want exit 2 with the protection in place:\n%s", err, out)
	}
	protected("after the refused start of a 0666 config")
}
