//go:build nspawn && linux

package systemdtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
)

// TestClientHelper runs the client helper service (hyp helper) under systemd in a container that
// plays the client machine, against a hypd gateway in the linked namespace on the host: install,
// add a profile, start (its keep-alive knock opens the gateway for the container), status, stop,
// uninstall.
func TestClientHelper(t *testing.T) {
	env := LoadEnv(t)
	if out, err := runHost(filepath.Join(env.Bin, "hyp"), "help", "helper"); err != nil {
		t.Fatalf("this hyp has no helper command (hyp help helper: %v): %s", err, out)
	}
	c := Boot(t, env.Root, BootOptions{BindRO: map[string]string{env.Bin: "/opt/hyp"}})
	// Here the linked namespace is the gateway and the container the client.
	gw := c.LinkClient(42)
	gwAddr, clientAddr := gw.Addr, gw.Gateway

	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	uri, code := gw.Run(filepath.Join(env.Bin, "hypd"), "secret", "new", "helper", "--keys", keys, "--host", gwAddr, "--no-check")
	if code != 0 {
		t.Fatalf("hypd secret new: exit %d", code)
	}
	uri = lastLine(uri)
	gw.Start("socat", fmt.Sprintf("TCP-LISTEN:%d,fork,reuseaddr", hiddenPort), "SYSTEM:echo hello-from-hidden")
	sock := filepath.Join(dir, "hypd.sock")
	gw.Start(filepath.Join(env.Bin, "hypd"), "run", "--interface", gw.IF, "--keys", keys, "--services", fmt.Sprintf("tcp/%d", hiddenPort),
		"--open", "2m", "--state", filepath.Join(dir, "state"), "--control", sock)
	Eventually(t, 10*time.Second, "the gateway answers on its control socket", func() error {
		_, err := runHost(filepath.Join(env.Bin, "hypd"), "status", "--socket", sock)
		return err
	})
	grants := func() []control.Grant {
		out, err := runHost(filepath.Join(env.Bin, "hypd"), "grants", "--json", "--socket", sock)
		if err != nil {
			t.Fatalf("hypd grants: %v: %s", err, out)
		}
		var gs []control.Grant
		if err := json.Unmarshal([]byte(out), &gs); err != nil {
			t.Fatalf("hypd grants --json: %v: %s", err, out)
		}
		return gs
	}
	if gs := grants(); len(gs) != 0 {
		t.Fatalf("grants before the helper ran: %v", gs)
	}

	hyp := "/opt/hyp/hyp"
	if out, code := c.ExitCode(hyp, "helper", "status"); code != 3 {
		t.Errorf("helper status before install: exit %d, want 3 (not installed): %s", code, out)
	}
	c.Must(hyp, "helper", "install")
	if out, code := c.ExitCode(hyp, "helper", "status"); code != 1 {
		t.Errorf("helper status after install: exit %d, want 1 (not running): %s", code, out)
	}
	// The URI carries the secret: through a file, so no command line or log shows it.
	c.WriteFile("/root/gw.uri", uri+"\n", 0o600)
	c.Must("sh", "-c", hyp+" helper add gw - </root/gw.uri")
	mustContain(t, "helper list", c.Must(hyp, "helper", "list"), "gw")
	// Who may use the helper's socket: root, and members of the group hyp (which the packages
	// create; here by hand, before the helper starts and reads it). alice is in it, bob is not.
	c.Must("groupadd", "--system", "hyp")
	c.Must("useradd", "--no-create-home", "--groups", "hyp", "alice")
	c.Must("useradd", "--no-create-home", "bob")
	c.Must(hyp, "helper", "start")
	Eventually(t, 15*time.Second, "the helper's keep-alive knock opens the gateway for the container", func() error {
		for _, g := range grants() {
			if g.Source == clientAddr {
				return nil
			}
		}
		return fmt.Errorf("no grant for %s", clientAddr)
	})
	helperSocket(t, c, hyp)
	if out, code := c.ExitCode(hyp, "helper", "status"); code != 0 {
		t.Errorf("helper status while running: exit %d, want 0: %s", code, out)
	}
	c.Must(hyp, "helper", "stop")
	if out, code := c.ExitCode(hyp, "helper", "status"); code != 1 {
		t.Errorf("helper status after stop: exit %d, want 1: %s", code, out)
	}
	c.Must(hyp, "helper", "uninstall")
	if out, code := c.ExitCode(hyp, "helper", "status"); code != 3 {
		t.Errorf("helper status after uninstall: exit %d, want 3: %s", code, out)
	}
	if _, code := c.ExitCode("test", "-e", "/etc/systemd/system/hyp-helper.service"); code == 0 {
		t.Error("helper uninstall left its unit")
	}
}

// helperSocket drives the installed, running helper over its socket as the tray would: live
// state and a knock request as alice (group hyp), a refusal for bob, and a hand-over that only
// root may make.
func helperSocket(t *testing.T, c *Container, hyp string) {
	t.Helper()
	mustContain(t, "socket", c.Must("stat", "-c", "%F %a %U:%G", "/run/hyp-helper.sock"), "socket 660 root:hyp")
	// /opt/hyp is the host's build directory, root's alone: the users run a copy.
	c.Must("install", "-m", "0755", hyp, "/usr/local/bin/hyp")
	hyp = "/usr/local/bin/hyp"
	Eventually(t, 10*time.Second, "alice sees gw up over the socket", func() error {
		out, err := c.Exec("runuser", "-u", "alice", "--", hyp, "helper", "live")
		if err != nil || !strings.Contains(out, "gw") || !strings.Contains(out, " up ") {
			return fmt.Errorf("hyp helper live as alice: %v: %s", err, out)
		}
		return nil
	})
	// gw is up: a connect says so and sends nothing (a knock would spend one of the key's uses).
	mustContain(t, "helper connect as alice", c.Must("runuser", "-u", "alice", "--", hyp, "helper", "connect", "gw"), "connected: gw is up; nothing sent")
	out, code := c.ExitCode("runuser", "-u", "bob", "--", hyp, "helper", "live")
	// The socket's mode (root:hyp 0660) turns bob away before the peer check would.
	if code == 0 || !strings.Contains(out, "does not admit you (root and members of the group hyp may use it)") {
		t.Errorf("hyp helper live as bob (not in hyp): exit %d: %s", code, out)
	}
	// alice may ask for knocks, not hand profiles over: the helper would run their commands as root.
	c.WriteFile("/tmp/evil.uri", "hyp://10.77.250.1?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ\n", 0o644)
	out, code = c.ExitCode("sh", "-c", "runuser -u alice -- "+hyp+" helper add evil - </tmp/evil.uri")
	if code == 0 || !strings.Contains(out, "may not hand profiles over") {
		t.Errorf("hyp helper add as alice: exit %d: %s", code, out)
	}
	// root hands one over to the running helper, which keeps it alive without a restart.
	c.Must("sh", "-c", hyp+" helper add second - </root/gw.uri")
	Eventually(t, 10*time.Second, "the handed-over profile is live", func() error {
		out, err := c.Exec(hyp, "helper", "live", "--json")
		if err != nil || !strings.Contains(out, `"name": "second"`) {
			return fmt.Errorf("hyp helper live: %v: %s", err, out)
		}
		return nil
	})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// runHost runs a command on the host and returns its standard output.
func runHost(args ...string) (string, error) {
	cmd := execCommand(args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return string(out), err
}
