package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The fifth attacker review. Promise 2 names "a second start" among the failure paths. hypd run
// writes the run record (config.RecordRun) as soon as its config loaded, before gateway.Run takes
// the instance lock: a second start that is refused because a hypd already runs still rewrites
// the record of that config file with its own directories. Here the admin tries a second
// `hypd run --config hypd.toml --state /somewhere/else` while the service runs (it is refused: one
// is running); later the fourth review's user who can write hypd.toml points its state_dir at a
// directory of theirs and empties its services, and the machine reboots. The record now names
// the second start's empty state directory, not the running hypd's, so nothing names the saved
// protection and the service is reachable by everyone.
func TestAttack5SecondStartRewritesTheRunRecord(t *testing.T) {
	g := newGateway(t, 156)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	good := g.configText()
	_, conf := g.configIn(good)
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	g.wantServiceHidden(t, "hypd running")

	// The second start, refused by the lock.
	elsewhere := filepath.Join(g.dir, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--state", elsewhere, "--control", filepath.Join(g.dir, "second.sock"), "--run-record", g.runRecord()).CombinedOutput()
	if err == nil {
		t.Fatalf("a second hypd run was not refused:\n%s", out)
	}
	t.Logf("the second start (refused): %v\n%s", err, out)
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}

	// The user who can write hypd.toml: their own state directory, no services.
	theirs := filepath.Join(g.dir, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(good, g.state, theirs, 1)
	bad = strings.Replace(bad, `services = ["tcp/2222"]`, `services = []`, 1)
	if err := os.WriteFile(conf, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(conf, 0o666); err != nil {
		t.Fatal(err)
	}
	l.Gateway.Output("nft", "delete", "table", "inet", "hyp")
	out, _ = l.Gateway.Command(ctx, bin("hypd"), "run", "--config", conf, "--control", g.sock, "--run-record", g.runRecord()).CombinedOutput()
	checkRace(t, string(out))
	if _, lerr := l.Gateway.Output("nft", "list", "table", "inet", "hyp"); lerr != nil {
		rec, _ := os.ReadFile(filepath.Join(g.runRecord(), "runs.json"))
		t.Fatalf("after a refused second start and a refused config at boot no table is in place: the service is open. runs.json:\n%s\nhypd said:\n%s", rec, out)
	}
	g.wantServiceHidden(t, "a boot with a refused config after a refused second start")
}
