package commands

import (
	"context"
	"strings"
	"testing"
	"time"
)

// hypd start without a service manager refuses a configuration that does not load, as hypd run
// does, and, as hypd run does, first puts what it knows in the kernel: after a reboot there is
// no table yet, and the typo must not leave the protected service reachable.
func TestStartWithABadConfigAfterARebootKeepsServicesHidden(t *testing.T) {
	o := newOpsLab(t, 129)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A good run first, so the state directory holds the last protection; then a reboot (the
	// table gone) and a typo in the config.
	o.writeConf("services = [\"tcp/2222\"]\n")
	out, code := o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	mustHave(t, "start", out, code, 0, "started hypd")
	out, code = o.run("stop", "--socket", o.sock)
	mustHave(t, "stop", out, code, 0)
	if out, err := o.lab.Gateway.Command(ctx, "nft", "delete", "table", "inet", "hyp").CombinedOutput(); err != nil {
		t.Fatalf("deleting the table as a reboot would: %v: %s", err, out)
	}
	o.writeConf("services = [\"tcp/2222\"]\nopen = 5m\n") // 5m unquoted: not TOML
	out, code = o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	mustHave(t, "start with a bad config", out, code, 2, "durations are quoted strings")
	set, err := o.lab.Gateway.Command(ctx, "nft", "list", "set", "inet", "hyp", "protected").CombinedOutput()
	if err != nil || !strings.Contains(string(set), "2222") {
		t.Fatalf("after a refused start with no table before it, tcp/2222 is not in the protected set: %v\n%s", err, set)
	}
}
