package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// Fail closed from power-on (issue #18, item 2). nftables tables do not survive a reboot, so
// each case below starts with the table deleted, as a reboot leaves it, then breaks one thing
// hypd needs at start, the way it was reproduced against the old hypd: each time that hypd
// exited with no table at all, and the service answered the whole internet while systemd
// retried. Now either hypd starts anyway (what it cannot parse is moved aside, an endpoint that
// cannot open is logged) or, when it cannot start, it puts the protection it knows of in place
// before it exits.
func TestEveryStartAfterARebootKeepsServicesHidden(t *testing.T) {
	g := newGateway(t, 27)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	conf := filepath.Join(g.dir, "hypd.toml")
	const metricsAddr = "127.0.0.1:9469"
	// uses = 8: the cases below knock more often within one time step than a key with one use
	// per window allows.
	cfg := fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = %q\nstate_dir = %q\nopen = \"30s\"\nmetrics = %q\nuses = 8\n",
		netlab.Iface, servicePort, g.keys, g.state, metricsAddr)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	g.args = []string{"--config", conf, "--control", g.sock}
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	// A first good run leaves protection.json and a spent log with a use in it.
	clientState := t.TempDir()
	g.restart()
	knockAs(t, l.Client, clientState, uri)
	waitOpen(t, client, time.Second)

	reboot := func() {
		t.Helper()
		g.mu.Lock()
		p := g.hypd
		g.hypd = nil
		g.mu.Unlock()
		if p != nil {
			if err := p.Kill(); err != nil {
				t.Fatal(err)
			}
			checkRace(t, p.Output())
		}
		if _, err := l.Gateway.Output("nft", "delete", "table", "inet", "hyp"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(g.ruleset(), "table inet hyp") {
			t.Fatal("the table survived the reboot")
		}
	}
	nobody := []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}

	for _, c := range []struct {
		name   string
		break_ func(t *testing.T) (fix func())
		// starts: hypd runs despite it (and a knock opens); otherwise it exits, hiding what it knows.
		starts bool
		say    string // in hypd's output
		// knockOpens: a knock right after the start opens. A new spent log refuses the current
		// windows, so no knock opens after that case until the window after next: it comes last
		// of the cases that knock.
		knockOpens bool
	}{
		{"protection.json truncated", func(t *testing.T) func() {
			truncate(t, filepath.Join(g.state, "protection.json"), 10)
			return func() {}
		}, true, "moved aside", true},
		{"the metrics address held by another user", func(t *testing.T) func() {
			p, err := l.Gateway.Start(nobody[0], append(nobody[1:], "socat", "TCP-LISTEN:9469,bind=127.0.0.1,reuseaddr,fork", "/dev/null")...)
			if err != nil {
				t.Fatal(err)
			}
			waitfor.For(t, "the squatter listening", 5*time.Second, func() bool {
				out, _ := l.Gateway.Output("ss", "-Hltn", "sport = :9469")
				return strings.Contains(string(out), "9469")
			})
			return func() { p.Kill() }
		}, true, "no metrics endpoint", true},
		{"the old lock name squatted by another user", func(t *testing.T) func() {
			p, err := l.Gateway.Start(nobody[0], append(nobody[1:], "socat", "ABSTRACT-LISTEN:hyp/hypd/hyp,fork", "/dev/null")...)
			if err != nil {
				t.Fatal(err)
			}
			waitfor.For(t, "the squatter listening", 5*time.Second, func() bool {
				out, _ := l.Gateway.Output("ss", "-Hlx")
				return strings.Contains(string(out), "@hyp/hypd/hyp")
			})
			return func() { p.Kill() }
		}, true, "hypd running", true},
		{"one byte of the spent log's header changed", func(t *testing.T) func() {
			flipByte(t, filepath.Join(g.state, "spent.json"), 9)
			return func() {}
		}, true, "spent-knock log was damaged", false},
		{"the spent log unreadable", func(t *testing.T) func() {
			path := filepath.Join(g.state, "spent.json")
			if err := os.Rename(path, path+".keep"); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			return func() {
				os.Remove(path)
				os.Rename(path+".keep", path)
			}
		}, false, "the protection is in place", false},
		{"the state directory read-only", func(t *testing.T) func() {
			if err := unix.Mount(g.state, g.state, "", unix.MS_BIND, ""); err != nil {
				t.Fatal(err)
			}
			if err := unix.Mount("", g.state, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				unix.Unmount(g.state, 0)
				t.Fatal(err)
			}
			return func() {
				if err := unix.Unmount(g.state, 0); err != nil {
					t.Error(err)
				}
			}
		}, false, "the protection is in place", false},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			reboot()
			fix := c.break_(t)
			defer fix()
			if c.starts {
				p := g.restart()
				if err := p.WaitOutput(c.say, 5*time.Second); err != nil {
					t.Fatalf("hypd did not say %q: %v\n%s", c.say, err, p.Output())
				}
			} else {
				out, code := g.hypdCmd(append([]string{"run"}, g.args...)...)
				if code == 0 || !strings.Contains(out, c.say) {
					t.Fatalf("hypd run: exit %d, want a failure saying %q:\n%s", code, c.say, out)
				}
				if !strings.Contains(out, fmt.Sprintf("tcp/%d", servicePort)) {
					t.Errorf("the log does not name what it protects:\n%s", out)
				}
			}
			if !strings.Contains(g.ruleset(), "table inet hyp") {
				t.Fatal("no table after the start")
			}
			assertHidden(t, attacker, client)
			if c.knockOpens {
				knockAs(t, l.Client, clientState, uri)
				waitOpen(t, client, time.Second)
				assertHidden(t, attacker)
			}
		})
	}

	// Nothing known at all — a fresh state directory, no key, no service in the configuration:
	// said loudly, not silently.
	t.Run("nothing_known", func(t *testing.T) {
		reboot()
		empty := t.TempDir()
		keys := filepath.Join(empty, "keys")
		if err := os.Mkdir(keys, 0o700); err != nil {
			t.Fatal(err)
		}
		ro := filepath.Join(empty, "state")
		if err := os.Mkdir(ro, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount("tmpfs", ro, "tmpfs", unix.MS_RDONLY, "size=64k"); err != nil {
			t.Fatal(err)
		}
		defer unix.Unmount(ro, 0)
		out, code := g.hypdCmd("run", "--interface", netlab.Iface, "--keys", keys, "--state", ro, "--control", "")
		if code == 0 || !strings.Contains(out, "KNOWS OF NOTHING TO PROTECT") {
			t.Fatalf("hypd run with nothing to protect and a read-only state: exit %d:\n%s", code, out)
		}
	})
}

// knockAs knocks with `hyp knock --uses 8` as the client whose knock state is in stateHome.
func knockAs(t *testing.T, ns *netlab.NS, stateHome, uri string) {
	t.Helper()
	c := ns.Command(context.Background(), bin("hyp"), "knock", "--uses", "8", uri)
	c.Env = append(os.Environ(), "XDG_STATE_HOME="+stateHome)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("hyp knock: %v\n%s", err, out)
	}
}

func truncate(t *testing.T, path string, n int64) {
	t.Helper()
	if err := os.Truncate(path, n); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, at int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) <= at {
		t.Fatalf("%s has %d bytes", path, len(b))
	}
	b[at] ^= 0xff
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Issue #18, item 3: with the lock an abstract socket, any local user could make `hypd cleanup`
// refuse, and `hypd cleanup --stop` SIGTERM whatever pid the squatter's socket reported. The
// squatter now holds nothing hypd looks at: cleanup does its work and signals no one.
func TestLockSquatterNeitherBlocksNorGetsSignalled(t *testing.T) {
	g := newGateway(t, 30)
	g.newKey("laptop", g.lab.GatewayIP())
	nobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "socat", "ABSTRACT-LISTEN:hyp/hypd/hyp,fork", "/dev/null"}
	squatter, err := g.lab.Gateway.Start("setpriv", nobody...)
	if err != nil {
		t.Fatal(err)
	}
	defer squatter.Kill()
	waitfor.For(t, "the squatter listening", 5*time.Second, func() bool {
		out, _ := g.lab.Gateway.Output("ss", "-Hlx")
		return strings.Contains(string(out), "@hyp/hypd/hyp")
	})
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort))
	if err := hypd.Stop(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	out, code := g.hypdCmd("cleanup", "--stop")
	if code != 0 || !strings.Contains(out, "deleted nftables table inet hyp") || strings.Contains(out, "stopped hypd") {
		t.Fatalf("hypd cleanup --stop with only a squatter: exit %d:\n%s", code, out)
	}
	select {
	case <-squatter.Done():
		t.Fatal("hypd cleanup --stop signalled the squatter")
	default:
	}
}

// A typo on the unit's command line, or a config file with a typo whose state_dir is a TOML
// literal string, or no config file at all at boot (found by the attacker review: each left the
// table out and the service exposed, the first two with the state directory known). Each now
// hides what the last run protected.
func TestBootUsageErrorsKeepServicesHidden(t *testing.T) {
	g := newGateway(t, 31)
	l := g.lab
	g.newKey("laptop", l.GatewayIP())
	conf := filepath.Join(g.dir, "hypd.toml")
	good := fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = '%s'\nstate_dir = '%s'\n", netlab.Iface, servicePort, g.keys, g.state)
	if err := os.WriteFile(conf, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	if err := hypd.Kill(); err != nil {
		t.Fatal(err)
	}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	for _, c := range []struct {
		name   string
		config string // "" removes the file
		args   []string
	}{
		{"unknown flag", good, []string{"run", "--config", conf, "--interfce", "eth0"}},
		{"bad --services", good, []string{"run", "--config", conf, "--services", "tcp/2222,udp/5182O"}},
		{"bad --open", good, []string{"run", "--config", conf, "--open", "5mins"}},
		{"typo with a literal-string state_dir", good + "open = 5m\n", []string{"run", "--config", conf}},
		{"no interface anywhere", strings.Replace(good, fmt.Sprintf("interfaces = [%q]\n", netlab.Iface), "", 1), []string{"run", "--config", conf}},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			l.Gateway.Output("nft", "delete", "table", "inet", "hyp")
			if err := os.WriteFile(conf, []byte(c.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := g.hypdCmd(c.args...)
			if code != 2 || !strings.Contains(out, "the protection is in place") {
				t.Fatalf("hypd %s: exit %d, want 2 with the protection in place:\n%s", strings.Join(c.args, " "), code, out)
			}
			if !strings.Contains(g.nftSet("protected"), fmt.Sprintf("6 . %d", servicePort)) {
				t.Fatalf("tcp/%d not hidden:\n%s", servicePort, g.ruleset())
			}
			assertHidden(t, attacker)
		})
	}
}
