package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// opsLab is a lab whose gateway namespace runs the real hypd through its operations verbs.
type opsLab struct {
	t                        *testing.T
	lab                      *netlab.Lab
	hypd                     string
	dir, conf, sock, log, ks string
}

func newOpsLab(t *testing.T, n int) *opsLab {
	t.Helper()
	needs.Root(t, "network namespaces, XDP and nftables")
	l := netlab.TempLab(t, fmt.Sprintf("hypops-%d-%d", os.Getpid(), n), n)
	dir := t.TempDir()
	o := &opsLab{t: t, lab: l, hypd: testbin.Path(t, "hypd"), dir: dir, conf: filepath.Join(dir, "hypd.toml"),
		sock: filepath.Join(dir, "hypd.sock"), log: filepath.Join(dir, "log", "hypd.log"), ks: filepath.Join(dir, "keys")}
	if err := os.Mkdir(o.ks, 0o700); err != nil {
		t.Fatal(err)
	}
	// Runs before the lab's removal: whatever hypd a failed step left running stops.
	t.Cleanup(func() {
		if out, code := o.run("stop"); code != 0 {
			t.Errorf("hypd stop at cleanup: exit %d: %s", code, out)
		}
		if t.Failed() {
			b, _ := os.ReadFile(o.log)
			t.Logf("hypd log:\n%s", b)
		}
	})
	return o
}

// writeConf writes the lab's config with extra lines.
func (o *opsLab) writeConf(extra string) {
	o.t.Helper()
	c := fmt.Sprintf("interfaces = [%q]\nkeys_dir = %q\nstate_dir = %q\n%s\n", netlab.Iface, o.ks, filepath.Join(o.dir, "state"), extra)
	if err := os.WriteFile(o.conf, []byte(c), 0o644); err != nil {
		o.t.Fatal(err)
	}
}

// run runs hypd with args in the gateway's namespace and returns its output and exit status.
func (o *opsLab) run(args ...string) (string, int) {
	o.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := o.lab.Gateway.Command(ctx, o.hypd, args...).CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		o.t.Fatalf("hypd %v: %v", args, err)
	}
	return string(out), 0
}

func (o *opsLab) status() control.Status {
	o.t.Helper()
	out, code := o.run("status", "--json", "--socket", o.sock)
	if code != 0 {
		o.t.Fatalf("hypd status --json: exit %d: %s", code, out)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		o.t.Fatalf("status JSON: %v: %s", err, out)
	}
	return st
}

func mustHave(t *testing.T, what, out string, code, wantCode int, wants ...string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("%s: exit %d, want %d: %s", what, code, wantCode, out)
	}
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: output lacks %q: %s", what, w, out)
		}
	}
}

// Item 2 of issue 21: without systemd, hypd start runs hypd in the background and returns once it
// protects and answers; service-status and status exit per LSB; reload is the full reload with
// its outcome; stop stops it and leaves the table; the refusals recommend only what works here.
func TestStartStopReloadWithoutServiceManager(t *testing.T) {
	o := newOpsLab(t, 121)
	o.writeConf(`services = ["tcp/2222"]`)

	out, code := o.run("service-status")
	mustHave(t, "service-status before start", out, code, exitNotRunning, "not running", "hypd start")
	out, code = o.run("status", "--socket", o.sock)
	mustHave(t, "status before start", out, code, exitNotRunning, "hypd is not running")

	out, code = o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	mustHave(t, "start", out, code, 0, "started hypd (pid", "without a service manager", o.log)
	if b, err := os.ReadFile(o.log); err != nil || !strings.Contains(string(b), "hypd running") {
		t.Fatalf("the log of the background hypd: %v: %s", err, b)
	}
	out, code = o.run("service-status")
	mustHave(t, "service-status while running", out, code, 0, "hypd is running (pid", "without a service manager")
	st := o.status()
	if len(st.Protected) != 1 || st.Protected[0].Service != "tcp/2222" {
		t.Fatalf("protected %v, want tcp/2222", st.Protected)
	}
	out, code = o.run("status", "--json", "--socket", o.sock)
	mustHave(t, "status --json", out, code, 0, `"grants": []`, `"keys": []`)
	if strings.Contains(out, "null") {
		t.Fatalf("status --json has a null: %s", out)
	}

	out, code = o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	mustHave(t, "second start", out, code, 0, "already running")
	out, code = o.run("run", "--config", o.conf, "--socket", filepath.Join(o.dir, "other.sock"))
	if code == 0 || !strings.Contains(out, "hypd stop") || strings.Contains(out, "systemctl") {
		t.Fatalf("a second run: exit %d, %s", code, out)
	}
	out, code = o.run("cleanup")
	if code != 1 || !strings.Contains(out, "hypd stop") || strings.Contains(out, "systemctl") {
		t.Fatalf("cleanup while running: exit %d, %s", code, out)
	}

	// reload applies a new service and says so; the table has it when reload returns.
	o.writeConf(`services = ["tcp/2222", "tcp/2223"]`)
	out, code = o.run("reload", "--socket", o.sock)
	mustHave(t, "reload", out, code, 0, "reloaded hypd: applied services")
	if st := o.status(); len(st.Protected) != 2 {
		t.Fatalf("after reload protected %v, want tcp/2222 and tcp/2223", st.Protected)
	}
	// A configuration that does not load is refused with the reason, and hypd runs on.
	o.writeConf("services = [\"tcp/2222\"]\nopen = 5m")
	out, code = o.run("reload", "--socket", o.sock)
	mustHave(t, "reload of a bad config", out, code, 1, "configuration not reloaded", `write open = "5m"`)
	if st := o.status(); len(st.Protected) != 2 || st.ConfigProblem == "" {
		t.Fatalf("after a refused reload: protected %v, config problem %q", st.Protected, st.ConfigProblem)
	}
	// A hypd answering on another socket still reloads, by SIGHUP through the lock.
	o.writeConf(`services = ["tcp/2222"]`)
	out, code = o.run("reload", "--socket", filepath.Join(o.dir, "none.sock"))
	mustHave(t, "reload through the lock", out, code, 0, "sent SIGHUP to hypd (pid")
	// tcp/2223 is then named by nothing, and kept hidden (until hypd unprotect).
	waitfor.For(t, "the SIGHUP reload", 10*time.Second, func() bool {
		for _, p := range o.status().Protected {
			if p.Service == "tcp/2223" {
				return len(p.From) == 0
			}
		}
		return false
	})

	out, code = o.run("restart", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	mustHave(t, "restart", out, code, 0, "stopped hypd (pid", "started hypd (pid")

	out, code = o.run("stop")
	mustHave(t, "stop", out, code, 0, "stopped hypd (pid", "stay hidden")
	out, code = o.run("status", "--socket", o.sock)
	mustHave(t, "status after stop", out, code, exitNotRunning, "not running")
	out, code = o.run("service-status")
	mustHave(t, "service-status after stop", out, code, exitNotRunning)
	if _, err := o.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil {
		t.Fatalf("the table went with hypd: %v", err)
	}
	out, code = o.run("stop")
	mustHave(t, "stop when stopped", out, code, 0, "not running")
	out, code = o.run("reload", "--socket", o.sock)
	mustHave(t, "reload when stopped", out, code, 7, "not running", "hypd start")

	// Item 6: cleanup says "deleted" only of a table that was there.
	out, code = o.run("cleanup")
	mustHave(t, "cleanup", out, code, 0, "deleted nftables table inet hyp")
	out, code = o.run("cleanup")
	mustHave(t, "second cleanup", out, code, 0, "no nftables table inet hyp", "nothing to delete")
	if strings.Contains(out, "deleted") {
		t.Fatalf("second cleanup claims to have deleted: %s", out)
	}

	// A hypd that cannot start fails hypd start with the reason from its log.
	blocker := filepath.Join(o.dir, "state-is-a-file")
	os.WriteFile(blocker, nil, 0o600)
	c := fmt.Sprintf("interfaces = [%q]\nkeys_dir = %q\nstate_dir = %q\nservices = [\"tcp/2222\"]\n", netlab.Iface, o.ks, blocker)
	os.WriteFile(o.conf, []byte(c), 0o644)
	out, code = o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	if code == 0 || !strings.Contains(out, "hypd run exited") || !strings.Contains(out, "state") {
		t.Fatalf("start of a hypd that cannot run: exit %d: %s", code, out)
	}
}

// Item 6: under stealth, giving up a kept service does not make it answer: the message says so.
func TestUnprotectUnderStealthSaysStealthStillDrops(t *testing.T) {
	o := newOpsLab(t, 122)
	o.writeConf("services = [\"tcp/2222\"]\nstealth = true")
	out, code := o.run("secret", "new", "k", "--keys", o.ks, "--host", o.lab.GatewayIP().String(), "--services", "tcp/2224")
	mustHave(t, "secret new", out, code, 0, "hyp://")
	out, code = o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	mustHave(t, "start", out, code, 0, "started hypd")
	if err := os.Remove(filepath.Join(o.ks, "k.toml")); err != nil {
		t.Fatal(err)
	}
	waitfor.For(t, "tcp/2224 kept", 10*time.Second, func() bool {
		for _, p := range o.status().Protected {
			if p.Service == "tcp/2224" && len(p.From) == 0 {
				return true
			}
		}
		return false
	})
	out, code = o.run("unprotect", "tcp/2224", "--socket", o.sock)
	mustHave(t, "unprotect under stealth", out, code, 0, "stealth still drops")
	if strings.Contains(out, "answers everyone") {
		t.Fatalf("unprotect under stealth: %s", out)
	}
	// A refusal carries one prefix, not "hypd unprotect: hypd: ...".
	out, code = o.run("unprotect", "tcp/2222", "--socket", o.sock)
	if code == 0 || strings.Contains(out, "hypd unprotect: hypd:") || !strings.Contains(out, "hypd unprotect: tcp/2222 is named by config") {
		t.Fatalf("unprotect of a configured service: exit %d: %s", code, out)
	}

	// The stop over the control socket (what hypd stop uses where the kernel does not name the
	// lock holder's pid): hypd ends as on SIGTERM, and its table stays.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := control.NewClient(o.sock).Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitfor.For(t, "hypd to stop", 30*time.Second, func() bool {
		_, code := o.run("service-status")
		return code == exitNotRunning
	})
	if _, err := o.lab.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil {
		t.Fatalf("the table went with hypd: %v", err)
	}
	if b, _ := os.ReadFile(o.log); !strings.Contains(string(b), "stopping on request over the control socket") {
		t.Fatalf("the log does not say why hypd stopped:\n%s", b)
	}
}
