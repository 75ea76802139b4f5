package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// The fifth attacker review. Promise 2: a config typo at boot leaves every protected service
// hidden. On a first boot there is no saved protection, so the services the refused file lists
// are the one thing that says what to hide (config.ServicesOf); but ServicesOf gives none when
// the file does not parse as TOML, and a typo is exactly what makes it not parse. Here the admin
// writes hypd.toml with the typo hypd itself diagnoses (`open = 5m`, unquoted), starts the
// service, and the service it lists stays reachable to everyone: hypd logs that it knows of
// nothing to protect.
func TestAttack5TOMLTypoOnFirstBootHidesItsServices(t *testing.T) {
	g := newGateway(t, 151)
	_, conf := g.configIn(g.configText() + "open = 5m\n")
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	checkRace(t, string(out))
	if !strings.Contains(string(out), "durations are quoted strings") {
		t.Fatalf("hypd run with a typo: want the typo named:\n%s", out)
	}
	if _, err := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil {
		t.Fatalf("a first boot with a typo in a hypd.toml whose services = [\"tcp/%d\"]: no table at all, the service is open to everyone; hypd said:\n%s", servicePort, out)
	}
	g.wantServiceHidden(t, "a first boot with a typo in the config that names it")
}

// The same first boot, the file refused by the trust checks (as in
// TestRefusedConfigOnFirstBootHidesItsServices), its services spelt `Services`: hypd's loader
// (BurntSushi/toml, which matches a key to a field regardless of case) takes that spelling, but
// config.ServicesOf looks the key up exactly, so the refused file hides nothing.
func TestAttack5RefusedConfigKeyCaseOnFirstBoot(t *testing.T) {
	g := newGateway(t, 152)
	good := strings.Replace(g.configText(), "services =", "Services =", 1)
	_, conf := g.configIn(good)
	// The loader accepts this spelling: a hypd.toml root trusts loads.
	if _, err := g.lab.Gateway.Output(bin("hypd"), "check", "--config", conf, "--run-record", g.runRecord()); err != nil {
		t.Fatalf("hypd check of a config spelt Services: %v", err)
	}
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := g.lab.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	checkRace(t, string(out))
	if _, err := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil {
		t.Fatalf("a first boot with a refused hypd.toml whose Services = [\"tcp/%d\"]: no table at all; hypd said:\n%s", servicePort, out)
	}
	g.wantServiceHidden(t, "a first boot with a refused config spelt Services")
}

// The command-line form of the first boot (a unit or drop-in that names the services with
// --services, no hypd.toml): a typo in another flag's value (--open 5mins) is refused, and the
// fail-closed start hides the services of the --state directory's saved protection and of the
// keys, but not those of --services, which it does not read (runGateway passes no known config,
// runBadFlags collects only --config, --state, --keys and --run-record). On a first boot nothing
// else names them, so nothing is hidden.
func TestAttack5FlagTypoOnFirstBootHidesTheServicesFlag(t *testing.T) {
	g := newGateway(t, 159)
	g.lab.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	args := []string{"run", "--interface", netlab.Iface, "--keys", g.keys, "--state", g.state, "--control", g.sock,
		"--run-record", g.runRecord(), "--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "5mins"}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, _ := g.lab.Gateway.Command(ctx, bin("hypd"), args...).CombinedOutput()
	checkRace(t, string(out))
	if _, err := g.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil {
		t.Fatalf("hypd %s on a first boot: no table, tcp/%d open to everyone; hypd said:\n%s", strings.Join(args, " "), servicePort, out)
	}
	g.wantServiceHidden(t, "a first boot with a typo beside --services")
}
