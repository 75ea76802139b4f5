package e2e

import (
	"context"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The fault suite: the routine operations an admin gets wrong — revoking a key, starting hypd a
// second time, a typo at boot, someone else's nft command — each done to a running gateway.
// Every test checks the two halves of "fails closed": a third party still cannot connect to a
// protected service, and a legitimate knock still opens it afterwards.

// hypdCmd runs `hypd ARGS...` in the gateway namespace and returns its combined output and exit
// status.
func (g *gateway) hypdCmd(args ...string) (string, int) {
	g.t.Helper()
	out, err := g.lab.Gateway.Command(context.Background(), bin("hypd"), args...).CombinedOutput()
	checkRace(g.t, string(out))
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	g.t.Fatalf("hypd %s: %v", strings.Join(args, " "), err)
	return "", -1
}

var countersRE = regexp.MustCompile(`counter packets \d+ bytes \d+`)

// ruleset is the gateway namespace's whole nftables ruleset without counter values, or "" when
// it is empty. The chains and sets of each table are sorted: a re-created chain is listed last,
// yet is the same ruleset.
func (g *gateway) ruleset() string {
	g.t.Helper()
	out, err := g.lab.Gateway.Output("nft", "-p", "list", "ruleset")
	if err != nil {
		g.t.Fatal(err)
	}
	var b strings.Builder
	var blocks []string
	var cur []string
	for _, line := range strings.Split(countersRE.ReplaceAllString(string(out), "counter"), "\n") {
		switch {
		case strings.HasPrefix(line, "table "):
			b.WriteString(line + "\n")
		case line == "}":
			sort.Strings(blocks)
			b.WriteString(strings.Join(blocks, "") + "}\n")
			blocks = nil
		case strings.HasPrefix(line, "\t}"):
			blocks = append(blocks, strings.Join(append(cur, line), "\n")+"\n")
			cur = nil
		case line != "":
			cur = append(cur, line)
		}
	}
	return b.String()
}

// newKeyFor makes a key with `hypd secret new NAME --services LIST` and returns its URI.
func (g *gateway) newKeyFor(name, services string) string {
	g.t.Helper()
	out, err := g.lab.Gateway.Output(bin("hypd"), "secret", "new", name, "--keys", g.keys, "--host", g.lab.GatewayIP().String(), "--services", services, "--scheme", "v2")
	if err != nil {
		g.t.Fatalf("hypd secret new %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// revokeAll closes the client's grants so the next check starts from "hidden".
func (g *gateway) revokeAll() {
	g.t.Helper()
	if out, code := g.hypdCmd("revoke-grant", g.lab.ClientIP().String(), "--socket", g.sock); code != 0 {
		g.t.Fatalf("hypd revoke-grant: exit %d: %s", code, out)
	}
}

// Case 1: revoking a key, as docs/gateway.md says (delete its file), or breaking it by accident
// (chmod, a typo, a half-written edit) must not expose the services only that key named.
func TestKeyFileGoneOrBrokenKeepsItsServicesHidden(t *testing.T) {
	g := newGateway(t, 21)
	l := g.lab
	svc := fmt.Sprintf("tcp/%d", servicePort)
	g.newKeyFor("alice", svc)
	// No --services: only the key files protect the service.
	hypd := g.start("--open", "30s")
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	assertHidden(t, attacker, client)
	alice := filepath.Join(g.keys, "alice.toml")
	good, err := os.ReadFile(alice)
	if err != nil {
		t.Fatal(err)
	}

	for i, c := range []struct {
		name    string
		do      func() error
		problem string // what status must say about the file, "" when it is gone
	}{
		{"chmod 640", func() error { return os.Chmod(alice, 0o640) }, "lets group or others read it"},
		{"typo", func() error { return os.WriteFile(alice, append([]byte("opne = 1\n"), good...), 0o600) }, `unknown key "opne"`},
		{"half-written", func() error { return os.WriteFile(alice, good[:len(good)/3], 0o600) }, "alice.toml"},
		{"rm (revoke)", func() error { return os.Remove(alice) }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := "key not loaded"
			if c.problem == "" {
				want = "key removed"
			}
			seen := strings.Count(hypd.Output(), want)
			if err := c.do(); err != nil {
				t.Fatal(err)
			}
			waitfor.For(t, "hypd reloading the keys", 5*time.Second, func() bool {
				return strings.Count(hypd.Output(), want) > seen
			})
			st := g.status()
			var found bool
			for _, p := range st.Protected {
				found = found || p.Service == svc
			}
			if !found {
				t.Fatalf("%s no longer protected after %s: %+v", svc, c.name, st.Protected)
			}
			if c.problem != "" && !strings.Contains(strings.Join(st.KeyProblems, "\n"), c.problem) {
				t.Errorf("status key problems %q; want one saying %q", st.KeyProblems, c.problem)
			}
			assertHidden(t, attacker, client)
			if !strings.Contains(g.nftSet("protected"), fmt.Sprintf("6 . %d", servicePort)) {
				t.Errorf("protected set lost %s:\n%s", svc, g.nftSet("protected"))
			}

			// Another agent's key still opens; then close it again for the next case.
			uri := g.newKeyFor(fmt.Sprintf("bob-%d", i), svc)
			waitLog(t, hypd, fmt.Sprintf("key=bob-%d", i), 5*time.Second)
			g.knock(l.Client, uri)
			waitOpen(t, client, 2*time.Second)
			assertHidden(t, attacker)
			g.revokeAll()
			if c.problem != "" {
				if err := errors.Join(os.WriteFile(alice, good, 0o600), os.Chmod(alice, 0o600)); err != nil {
					t.Fatal(err)
				}
				waitfor.For(t, "alice's repaired key loaded again", 5*time.Second, func() bool {
					for _, k := range g.status().Keys {
						if k.Name == "alice" {
							return true
						}
					}
					return false
				})
			}
		})
	}

	// The service nothing names any more is shown as kept, and given up only on request.
	st := g.status()
	if len(st.Protected) != 1 || st.Protected[0].Service != svc {
		t.Fatalf("protected = %+v", st.Protected)
	}
	for _, name := range []string{"bob-0", "bob-1", "bob-2", "bob-3"} {
		os.Remove(filepath.Join(g.keys, name+".toml"))
	}
	waitfor.For(t, "the bob keys removed", 5*time.Second, func() bool { return len(g.status().Keys) == 0 })
	if p := g.status().Protected; len(p) != 1 || len(p[0].From) != 0 {
		t.Fatalf("with no key naming %s: protected %+v; want it kept, named by nothing", svc, p)
	}
	out, _ := g.hypdCmd("status", "--socket", g.sock)
	if !strings.Contains(out, "hypd unprotect "+svc) {
		t.Errorf("hypd status does not say how to give up %s:\n%s", svc, out)
	}
	assertHidden(t, attacker)
	if out, code := g.hypdCmd("unprotect", svc, "--socket", g.sock); code != 0 {
		t.Fatalf("hypd unprotect: exit %d: %s", code, out)
	}
	c, err := attacker.dial(time.Second)
	if err != nil {
		t.Fatalf("after hypd unprotect %s the service should answer everyone: %v", svc, err)
	}
	c.Close()
}

// Case 2: a second `hypd run` (by hand, or a second unit) must not touch the running gateway's
// table or detector, whatever it is told to protect and even on a missing interface.
func TestSecondStartChangesNothing(t *testing.T) {
	g := newGateway(t, 22)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort))
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	before := g.ruleset()

	other := t.TempDir()
	for _, args := range [][]string{
		{"run", "--interface", "eth0", "--services", "tcp/9999", "--keys", g.keys, "--state", other, "--control", filepath.Join(other, "s")},
		{"run", "--interface", "nope0", "--services", "tcp/9999", "--keys", g.keys, "--state", other, "--control", ""},
		{"run", "--interface", "eth0", "--keys", g.keys, "--state", g.state, "--control", g.sock, "--stealth"},
	} {
		out, code := g.hypdCmd(args...)
		if code == 0 || !strings.Contains(out, fmt.Sprintf("another hypd (pid %d) already runs", hypd.PID())) {
			t.Errorf("second hypd %v: exit %d, output %q; want a refusal naming pid %d", args, code, out, hypd.PID())
		}
		if after := g.ruleset(); after != before {
			t.Fatalf("second hypd %v changed the ruleset:\n--- before\n%s\n--- after\n%s", args, before, after)
		}
	}
	if _, err := os.Stat(g.sock); err != nil {
		t.Errorf("the running hypd's control socket is gone: %v", err)
	}
	st := g.status()
	if st.Interfaces["eth0"] == "" {
		t.Errorf("status interfaces %v", st.Interfaces)
	}
	assertHidden(t, attacker, client)
	g.knock(l.Client, uri)
	waitOpen(t, client, time.Second)
	assertHidden(t, attacker)
}

// Case 3: nftables tables do not survive a reboot. A typo in hypd.toml at boot must leave the
// last good protection in place while the unit retries; fixing the file brings the gateway up.
func TestBadConfigAtBootKeepsTheLastProtection(t *testing.T) {
	g := newGateway(t, 23)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	conf := filepath.Join(g.dir, "hypd.toml")
	good := fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = %q\nstate_dir = %q\nopen = \"30s\"\n", "eth0", servicePort, g.keys, g.state)
	if err := os.WriteFile(conf, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}
	// The reboot: the kernel forgets the table.
	if _, err := l.Gateway.Output("nft", "delete", "table", "inet", "hyp"); err != nil {
		t.Fatal(err)
	}
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	for _, bad := range []string{
		strings.Replace(good, "open", "opne", 1),                // unknown key
		strings.Replace(good, `"30s"`, `"30 s"`, 1),             // bad value
		strings.Replace(good, "services = [", "services = ", 1), // not TOML
	} {
		if err := os.WriteFile(conf, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		out, code := g.hypdCmd("run", "--config", conf, "--control", g.sock)
		if code != 2 || !strings.Contains(out, "the protection is in place") {
			t.Fatalf("hypd run with a bad config: exit %d:\n%s\nwant exit 2 and the last protection restored", code, out)
		}
		if !strings.Contains(out, conf) {
			t.Errorf("the error does not name the file:\n%s", out)
		}
		assertHidden(t, attacker, client)
	}

	if err := os.WriteFile(conf, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	g.restart()
	g.knock(l.Client, uri)
	waitOpen(t, client, time.Second)
	assertHidden(t, attacker)
}

// Case 3b: a FIFO in the keys directory blocked LoadKeys forever, at start or on reload.
func TestFIFOInKeysDirDoesNotBlock(t *testing.T) {
	g := newGateway(t, 24)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	if err := unix.Mkfifo(filepath.Join(g.keys, "pipe.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort))
	waitLog(t, hypd, "not a regular file", time.Second)
	if err := unix.Mkfifo(filepath.Join(g.keys, "pipe2.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	uri2 := g.newKey("desktop", l.GatewayIP())
	waitLog(t, hypd, "key=desktop", 5*time.Second)
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	g.knock(l.Client, uri2)
	waitOpen(t, client, time.Second)
	g.revokeAll()
	g.knock(l.Client, uri)
	waitOpen(t, client, time.Second)
}

// Case 4: the table is changed from outside while hypd runs. Each change is repaired within a
// second (in practice milliseconds: nftables notifications), and `hypd cleanup` refuses.
func TestTableTamperingIsRepaired(t *testing.T) {
	g := newGateway(t, 25)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	intact := g.ruleset()
	protectedElem := fmt.Sprintf("6 . %d", servicePort)

	for _, cmd := range []string{
		"nft flush table inet hyp",
		"nft flush chain inet hyp input",
		"nft flush chain inet hyp input; nft delete chain inet hyp input",
		"nft delete rule inet hyp input handle $(nft -a list chain inet hyp input | awk '/@protected/ {print $NF; exit}')",
		"nft flush set inet hyp protected",
		"nft insert rule inet hyp input accept",
		"nft flush ruleset",
		"nft delete table inet hyp",
	} {
		start := time.Now()
		if out, err := l.Gateway.Output("sh", "-c", cmd); err != nil {
			t.Fatalf("%s: %v: %s", cmd, err, out)
		}
		waitfor.For(t, "repair after "+cmd, time.Second, func() bool { return g.ruleset() == intact })
		t.Logf("%-90s repaired within %v of the command", cmd, time.Since(start))
		if !strings.Contains(g.nftSet("protected"), protectedElem) {
			t.Fatalf("after %s: protected set lacks %s", cmd, protectedElem)
		}
		assertHidden(t, attacker)
	}
	// hypd logs a repair once it is done, so the last line may trail the intact ruleset.
	waitfor.Until(time.Second, func() bool { return strings.Count(hypd.Output(), "changed from outside hypd") >= 8 })
	if n := strings.Count(hypd.Output(), "changed from outside hypd"); n < 8 {
		t.Errorf("hypd logged %d repairs, want one per change (8):\n%s", n, hypd.Output())
	}

	out, code := g.hypdCmd("cleanup")
	if code == 0 || !strings.Contains(out, "is running") {
		t.Fatalf("hypd cleanup while hypd runs: exit %d: %s; want a refusal", code, out)
	}
	if g.ruleset() != intact {
		t.Fatal("a refused cleanup changed the ruleset")
	}
	assertHidden(t, attacker, client)
	g.knock(l.Client, uri)
	waitOpen(t, client, time.Second)
	assertHidden(t, attacker)

	out, code = g.hypdCmd("cleanup", "--stop")
	if code != 0 {
		t.Fatalf("hypd cleanup --stop: exit %d: %s", code, out)
	}
	select {
	case <-hypd.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("hypd still runs after cleanup --stop")
	}
	if rs := g.ruleset(); strings.Contains(rs, "table inet hyp") {
		t.Fatalf("table still there after cleanup --stop:\n%s", rs)
	}
}

// A state directory hypd cannot write stops the start, and hypd says why with the fix; before it
// exits it hides what the configuration names (the old hypd left the ruleset as it was, which
// after a reboot meant no table and every service exposed).
func TestUnwritableStateDirKeepsServicesHidden(t *testing.T) {
	g := newGateway(t, 26)
	ro := filepath.Join(g.dir, "ro")
	if err := os.Mkdir(ro, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, "size=64k"); err != nil {
		t.Fatalf("mounting a read-only tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(ro, 0); err != nil {
			t.Error(err)
		}
	})
	g.newKey("laptop", g.lab.GatewayIP())
	out, code := g.hypdCmd("run", "--interface", "eth0", "--keys", g.keys, "--state", ro, "--control", g.sock, "--services", fmt.Sprintf("tcp/%d", servicePort))
	if code == 0 || !strings.Contains(out, "state_dir "+ro+" is not writable") || !strings.Contains(out, "ReadWritePaths") {
		t.Fatalf("hypd run with a read-only state dir: exit %d: %s", code, out)
	}
	if !strings.Contains(out, "read-only file system") {
		t.Errorf("the error does not give the cause: %s", out)
	}
	if !strings.Contains(g.nftSet("protected"), fmt.Sprintf("6 . %d", servicePort)) {
		t.Fatalf("the failed start did not hide tcp/%d:\n%s", servicePort, g.ruleset())
	}
	assertHidden(t, probe{"attacker", g.lab.Attacker, g.lab.AttackerIP(), g.lab.GatewayIP()})
}
