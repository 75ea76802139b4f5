//go:build nspawn && linux

package systemdtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
)

const hiddenPort = 2222

// wantCaps is what hypd's unit grants on a 5.8+ kernel: CAP_NET_ADMIN (12), CAP_PERFMON (38),
// CAP_BPF (39), and nothing else.
const wantCaps = uint64(1)<<12 | uint64(1)<<38 | uint64(1)<<39

func mustContain(t *testing.T, what, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Fatalf("%s: output lacks %q:\n%s", what, w, out)
		}
	}
}

// gateway is a container set up as a gateway: a client linked to it, a hidden TCP service.
type gateway struct {
	*Container
	cl   *Client
	hypd string // path of hypd inside the container
}

func (g *gateway) configure(t *testing.T) (uri string) {
	t.Helper()
	g.WriteFile("/etc/hyp/hypd.toml", fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nopen = \"2m\"\n", g.cl.GatewayIF, hiddenPort), 0o644)
	uri = strings.TrimSpace(g.Stdout(g.hypd, "secret", "new", "laptop", "--host", g.cl.Gateway))
	if !strings.HasPrefix(uri, "hyp://"+g.cl.Gateway+"?") {
		t.Fatalf("secret new printed %q, want a hyp:// URI", "(redacted)")
	}
	g.Must("systemd-run", "--unit=hidden-svc", "socat", fmt.Sprintf("TCP-LISTEN:%d,fork,reuseaddr", hiddenPort), "SYSTEM:echo hello-from-hidden")
	Eventually(t, 5*time.Second, "the TCP service answers before hypd runs", func() error {
		_, err := g.cl.Connect(hiddenPort, time.Second)
		return err
	})
	return uri
}

func (g *gateway) status(t *testing.T) control.Status {
	t.Helper()
	var st control.Status
	out := g.Stdout(g.hypd, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("hypd status --json: %v\n%s", err, out)
	}
	return st
}

func (g *gateway) mainPID(t *testing.T) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(g.Stdout("systemctl", "show", "-p", "MainPID", "--value", "hypd")))
	if err != nil || pid == 0 {
		t.Fatalf("hypd's MainPID: %d, %v", pid, err)
	}
	return pid
}

func (g *gateway) hidden(t *testing.T, why string) {
	t.Helper()
	if out, err := g.cl.Connect(hiddenPort, time.Second); err == nil {
		t.Fatalf("%s: tcp/%d answered %q, want it hidden", why, hiddenPort, out)
	}
}

func (g *gateway) open(t *testing.T, why string) {
	t.Helper()
	out, err := g.cl.Connect(hiddenPort, 2*time.Second)
	if err != nil || out != "hello-from-hidden" {
		t.Fatalf("%s: tcp/%d: %q, %v; want the service's greeting", why, hiddenPort, out, err)
	}
}

// keyKept reports whether the key that configure made is still in /etc/hyp/keys.
func (g *gateway) keyKept() bool {
	out, _ := g.ExitCode("ls", "/etc/hyp/keys")
	return strings.Contains(out, "laptop")
}

func (g *gateway) tableExists() bool {
	_, code := g.ExitCode("nft", "list", "table", "inet", "hyp")
	return code == 0
}

// knock knocks from the client with the host's hyp and waits for the service to answer.
func (g *gateway) knock(t *testing.T, bin, uri string) {
	t.Helper()
	out, code := g.cl.Run(filepath.Join(bin, "hyp"), "knock", "--check", fmt.Sprintf("tcp/%d", hiddenPort), uri)
	if code != 0 {
		t.Fatalf("hyp knock --check: exit %d\n%s", code, out)
	}
}

// checkHardening reads the running hypd's capabilities and flags from /proc.
func (g *gateway) checkHardening(t *testing.T) {
	t.Helper()
	status := g.Must("cat", fmt.Sprintf("/proc/%d/status", g.mainPID(t)))
	fields := map[string]string{}
	for _, line := range strings.Split(status, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapAmb"} {
		v, err := strconv.ParseUint(fields[k], 16, 64)
		if err != nil || v != wantCaps {
			t.Errorf("hypd %s = %s, want %016x (CAP_BPF, CAP_NET_ADMIN, CAP_PERFMON only)", k, fields[k], wantCaps)
		}
	}
	if fields["NoNewPrivs"] != "1" {
		t.Errorf("hypd NoNewPrivs = %q, want 1", fields["NoNewPrivs"])
	}
	if fields["Seccomp"] != "2" {
		t.Errorf("hypd Seccomp = %q, want 2 (filter)", fields["Seccomp"])
	}
	// ProtectSystem=strict: /etc is read-only for hypd, /var/lib/hyp and /run/hyp are not.
	mounts := g.Must("cat", fmt.Sprintf("/proc/%d/mountinfo", g.mainPID(t)))
	for _, want := range []struct {
		dir string
		ro  bool
	}{{"/", true}, {"/var/lib/hyp", false}, {"/run/hyp", false}} {
		opts := ""
		for _, line := range strings.Split(mounts, "\n") {
			f := strings.Fields(line)
			if len(f) > 5 && f[4] == want.dir {
				opts = f[5] // the last mount on a path wins
			}
		}
		if ro := strings.HasPrefix(opts, "ro"); opts == "" || ro != want.ro {
			t.Errorf("hypd's view of %s: mount options %q, want read-only=%v", want.dir, opts, want.ro)
		}
	}
	if mode := strings.TrimSpace(g.Must("stat", "-c", "%a %U", "/run/hyp/hypd.sock")); mode != "660 root" {
		t.Errorf("control socket mode/owner = %q, want 660 root", mode)
	}
}

func hostHypd(env Env) string { return filepath.Join(env.Bin, "hypd") }

// TestInstallService installs hypd with `hypd install` under a real systemd and walks an
// administrator's day: start, status, a knock that opens the service, revoke, a crash, stop (still
// hidden), uninstall (still hidden), uninstall --purge (reachable again).
func TestInstallService(t *testing.T) {
	env := LoadEnv(t)
	c := Boot(t, env.Root, BootOptions{BindRO: map[string]string{env.Bin: "/opt/hyp"}})
	g := &gateway{Container: c, cl: c.LinkClient(40), hypd: "/opt/hyp/hypd"}

	out := g.Must(g.hypd, "install")
	mustContain(t, "hypd install", out, "installed the hypd service (linux-systemd)", "not started", "hypd secret new", "interfaces")
	if got, want := g.Must("cat", "/etc/systemd/system/hypd.service"), g.Stdout(g.hypd, "service-unit", "--exec", g.hypd); got != want {
		t.Fatalf("the installed unit differs from hypd service-unit:\n--- installed\n%s\n--- service-unit\n%s", got, want)
	}
	if s, _ := g.ExitCode("systemctl", "is-enabled", "hypd"); strings.TrimSpace(s) != "enabled" {
		t.Errorf("after install: is-enabled = %q, want enabled", s)
	}
	if s, _ := g.ExitCode("systemctl", "is-active", "hypd"); strings.TrimSpace(s) != "inactive" {
		t.Errorf("after install: is-active = %q, want inactive (install must not start)", s)
	}
	if mode := strings.TrimSpace(g.Must("stat", "-c", "%a", "/etc/hyp/keys")); mode != "700" {
		t.Errorf("keys directory mode %s, want 700", mode)
	}
	if out, code := g.ExitCode(g.hypd, "start"); code != 2 || !strings.Contains(out, "no interfaces") {
		t.Fatalf("start with the default config: exit %d, want 2 naming the missing interfaces:\n%s", code, out)
	}
	if out, code := g.ExitCode(g.hypd, "service-status"); code != 3 {
		t.Errorf("service-status of a hypd that does not run: exit %d, want 3 (LSB: not running):\n%s", code, out)
	} else {
		mustContain(t, "service-status", out, "linux-systemd", "stopped")
	}

	uri := g.configure(t)
	start := time.Now()
	out = g.Must(g.hypd, "start")
	t.Logf("hypd start took %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(out))
	mustContain(t, "hypd start", out, "started hypd: 1 key(s), interfaces "+g.cl.GatewayIF)
	mustContain(t, "service-status", g.Must(g.hypd, "service-status"), "running")
	g.hidden(t, "hypd running, no knock")
	g.checkHardening(t)
	mustContain(t, "hypd status", g.Must(g.hypd, "status"), "laptop", g.cl.GatewayIF, "replays refused")

	before := g.status(t)
	g.knock(t, env.Bin, uri)
	g.open(t, "after a knock")
	st := g.status(t)
	if len(st.Keys) != 1 || st.Keys[0].Name != "laptop" || st.Keys[0].Scheme != "v3" {
		t.Errorf("status keys = %+v, want laptop (v3, what secret new writes)", st.Keys)
	}
	if st.Interfaces[g.cl.GatewayIF] == "" {
		t.Errorf("status interfaces = %v, want %s with its attach mode", st.Interfaces, g.cl.GatewayIF)
	}
	if d := st.Detector.Completions - before.Detector.Completions; d != 1 {
		t.Errorf("detector completions went up by %d, want 1 (one knock)", d)
	}
	// A v3 knock of the default length 2: the first datagram starts the candidate (a hit), the
	// second completes it.
	// hypd status runs as root here, so the progress counters are there.
	if st.Detector.Progress == nil || before.Detector.Progress == nil {
		t.Errorf("hypd status as root shows no progress counters")
	} else if d := st.Detector.Progress.Hits - before.Detector.Progress.Hits; d < 1 {
		t.Errorf("detector hits went up by %d, want at least 1 for a 2-datagram knock", d)
	}
	if d := st.Detector.Seen - before.Detector.Seen; d < 2 {
		t.Errorf("detector seen went up by %d, want at least the 2 datagrams of the knock", d)
	}
	if d := st.Server.Grants - before.Server.Grants; d != 1 {
		t.Errorf("server grants went up by %d, want 1", d)
	}
	var granted []string
	for _, gr := range st.Grants {
		granted = append(granted, gr.Source+" "+gr.Service)
		if gr.SecondsLeft <= 0 || gr.SecondsLeft > 120 {
			t.Errorf("grant %+v: seconds left out of (0, 120]", gr)
		}
	}
	if want := g.cl.Addr + " tcp/2222"; len(granted) != 1 || granted[0] != want {
		t.Errorf("status grants = %v, want [%s]", granted, want)
	}
	mustContain(t, "hypd grants", g.Must(g.hypd, "grants"), g.cl.Addr, "tcp/2222")

	g.Must(g.hypd, "revoke-grant", g.cl.Addr)
	g.hidden(t, "after revoke-grant")

	// A crash: systemd restarts hypd (Restart=on-failure) and the table hides the service meanwhile.
	pid := g.mainPID(t)
	g.Must("systemctl", "kill", "--signal=KILL", "hypd")
	g.hidden(t, "hypd killed, not yet restarted")
	Eventually(t, 15*time.Second, "systemd restarts a killed hypd", func() error {
		out, err := g.Exec(g.hypd, "status")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if g.mainPID(t) == pid {
		t.Fatal("hypd answers with the killed PID")
	}

	start = time.Now()
	out = g.Must(g.hypd, "stop")
	stopTook := time.Since(start)
	t.Logf("hypd stop took %s", stopTook.Round(time.Millisecond))
	if stopTook > 5*time.Second {
		t.Errorf("hypd stop took %s, want a few seconds at most", stopTook)
	}
	mustContain(t, "hypd stop", out, "stay hidden")
	if out, code := g.ExitCode(g.hypd, "service-status"); code != 3 {
		t.Errorf("service-status of a hypd that does not run: exit %d, want 3 (LSB: not running):\n%s", code, out)
	} else {
		mustContain(t, "service-status", out, "stopped")
	}
	if !g.tableExists() {
		t.Fatal("stopping hypd deleted the table (must fail closed)")
	}
	g.hidden(t, "hypd stopped")
	if out, code := g.ExitCode(g.hypd, "status"); code == 0 {
		t.Errorf("hypd status with hypd stopped succeeded:\n%s", out)
	}

	g.Must(g.hypd, "restart")
	g.hidden(t, "after restart")

	out = g.Must(g.hypd, "uninstall")
	mustContain(t, "hypd uninstall", out, "removed the hypd service", "remain hidden")
	if out, code := g.ExitCode(g.hypd, "service-status"); code != 3 {
		t.Errorf("service-status of a hypd that does not run: exit %d, want 3 (LSB: not running):\n%s", code, out)
	} else {
		mustContain(t, "service-status", out, "not installed")
	}
	if _, code := g.ExitCode("test", "-e", "/etc/systemd/system/hypd.service"); code == 0 {
		t.Error("uninstall left the unit file")
	}
	if !g.tableExists() {
		t.Fatal("uninstall without --purge deleted the table")
	}
	g.hidden(t, "after uninstall")

	out = g.Must(g.hypd, "uninstall", "--purge")
	mustContain(t, "hypd uninstall --purge", out, "deleted the nftables table")
	if g.tableExists() {
		t.Fatal("uninstall --purge left the table")
	}
	g.open(t, "after uninstall --purge")
	if !g.keyKept() {
		t.Error("uninstall --purge deleted a key")
	}
}

// findDeb returns the newest .deb for this machine's architecture in dir.
func findDeb(t *testing.T, dir string) string {
	t.Helper()
	matches, _ := filepath.Glob(filepath.Join(dir, "hyp_*_"+runtime.GOARCH+".deb"))
	if len(matches) == 0 {
		t.Fatalf("no hyp_*_%s.deb in %s (make package)", runtime.GOARCH, dir)
	}
	sort.Slice(matches, func(i, j int) bool {
		a, _ := os.Stat(matches[i])
		b, _ := os.Stat(matches[j])
		return a.ModTime().After(b.ModTime())
	})
	return filepath.Base(matches[0])
}

// TestDebPackage installs the .deb with dpkg in a fresh container: the install changes nothing by
// itself, the service the admin enables hides and opens as it should, an upgrade keeps it
// running, removal unhides and stops, purge keeps the keys.
func TestDebPackage(t *testing.T) {
	env := LoadEnv(t)
	if env.Dist == "" {
		t.Fatal("set HYP_DIST to the directory of the packages (make package writes dist/)")
	}
	deb := findDeb(t, env.Dist)
	c := Boot(t, env.Root, BootOptions{BindRO: map[string]string{env.Dist: "/opt/dist"}})
	g := &gateway{Container: c, cl: c.LinkClient(41), hypd: "/usr/sbin/hypd"}

	out := g.Must("dpkg", "-i", "/opt/dist/"+deb)
	mustContain(t, "dpkg -i", out, "hypd is NOT running", "systemctl enable --now hypd", "hypd secret new")
	// The group whose members may use the client helper's socket, with nobody in it.
	if got := strings.TrimSpace(g.Must("getent", "group", "hyp")); !strings.HasPrefix(got, "hyp:x:") || !strings.HasSuffix(got, ":") {
		t.Errorf("after dpkg -i: group hyp is %q, want a system group with no members", got)
	}
	mustContain(t, "polkit action", g.Must("cat", "/usr/share/polkit-1/actions/net.hideyourports.hyp.policy"),
		`<annotate key="org.freedesktop.policykit.exec.path">/usr/bin/hyp</annotate>`)
	if s, _ := g.ExitCode("systemctl", "is-enabled", "hypd"); strings.TrimSpace(s) != "disabled" {
		t.Errorf("after dpkg -i: is-enabled = %q, want disabled", s)
	}
	if s, _ := g.ExitCode("systemctl", "is-active", "hypd"); strings.TrimSpace(s) != "inactive" {
		t.Errorf("after dpkg -i: is-active = %q, want inactive", s)
	}
	if g.tableExists() {
		t.Fatal("installing the package made the nftables table (it must hide nothing by itself)")
	}
	for path, want := range map[string]string{"/etc/hyp/keys": "700 root", "/etc/hyp/hypd.toml": "644 root", "/usr/sbin/hypd": "755 root", "/usr/bin/hyp": "755 root"} {
		if got := strings.TrimSpace(g.Must("stat", "-c", "%a %U", path)); got != want {
			t.Errorf("%s: mode/owner %q, want %q", path, got, want)
		}
	}
	if got, want := g.Must("cat", "/etc/hyp/hypd.toml"), g.Stdout(g.hypd, "config", "default"); got != want {
		t.Error("/etc/hyp/hypd.toml differs from hypd config default")
	}
	if got, want := g.Must("cat", "/usr/lib/systemd/system/hypd.service"), g.Stdout(g.hypd, "service-unit", "--exec", g.hypd, "--kernel", "5.8"); got != want {
		t.Errorf("the packaged unit differs from hypd service-unit:\n%s", got)
	}
	conffiles := g.Must("cat", "/var/lib/dpkg/info/hyp.conffiles")
	mustContain(t, "conffiles", conffiles, "/etc/hyp/hypd.toml")
	for _, f := range []string{"/usr/share/man/man8/hypd.8.gz", "/usr/share/man/man1/hyp.1.gz", "/usr/share/bash-completion/completions/hypd", "/usr/share/bash-completion/completions/hyp",
		"/usr/share/zsh/vendor-completions/_hypd", "/usr/share/fish/vendor_completions.d/hyp.fish", "/usr/share/doc/hyp/gateway.md"} {
		if _, code := g.ExitCode("test", "-s", f); code != 0 {
			t.Errorf("package lacks %s", f)
		}
	}
	mustContain(t, "hypd install with the package", g.Must(g.hypd, "install"), "already installed by the hyp package")

	uri := g.configure(t)
	g.Must("systemctl", "enable", "--now", "hypd")
	Eventually(t, 10*time.Second, "hypd answers after systemctl enable --now", func() error {
		out, err := g.Exec(g.hypd, "status")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	g.hidden(t, "packaged hypd running, no knock")
	g.checkHardening(t)
	g.knock(t, env.Bin, uri)
	g.open(t, "after a knock")
	if st := g.status(t); st.Detector.Completions != 1 || st.Server.Grants != 1 || len(st.Grants) != 1 {
		t.Errorf("status after one knock: completions %d, grants %d, active %v", st.Detector.Completions, st.Server.Grants, st.Grants)
	}
	g.Must(g.hypd, "revoke-grant", g.cl.Addr)

	// An upgrade (here: the same package again) restarts a running hypd and keeps hiding.
	pid := g.mainPID(t)
	g.Must("dpkg", "-i", "/opt/dist/"+deb)
	if s, _ := g.ExitCode("systemctl", "is-active", "hypd"); strings.TrimSpace(s) != "active" {
		t.Fatalf("after an upgrade: is-active = %q, want active", s)
	}
	if g.mainPID(t) == pid {
		t.Error("an upgrade did not restart hypd (try-restart)")
	}
	if s, _ := g.ExitCode("systemctl", "is-enabled", "hypd"); strings.TrimSpace(s) != "enabled" {
		t.Errorf("after an upgrade: is-enabled = %q, want enabled", s)
	}
	g.hidden(t, "after an upgrade")

	g.Must("dpkg", "-r", "hyp")
	if s, _ := g.ExitCode("systemctl", "is-active", "hypd"); strings.TrimSpace(s) == "active" {
		t.Error("hypd still running after dpkg -r")
	}
	if g.tableExists() {
		t.Fatal("dpkg -r left the table: services hidden with no hypd to undo it")
	}
	g.open(t, "after dpkg -r")
	if !g.keyKept() {
		t.Error("dpkg -r deleted a key")
	}
	out = g.Must("dpkg", "--purge", "hyp")
	mustContain(t, "dpkg --purge", out, "kept the keys")
	if _, code := g.ExitCode("test", "-e", "/var/lib/hyp"); code == 0 {
		t.Error("dpkg --purge left /var/lib/hyp")
	}
	if !g.keyKept() {
		t.Error("dpkg --purge deleted a key")
	}
}
