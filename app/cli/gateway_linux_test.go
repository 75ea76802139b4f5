package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// gatewayLab is hypd on the gateway of a netlab lab, hiding an echo service, and hyp run on its
// client.
type gatewayLab struct {
	lab  *netlab.Lab
	hyp  string
	uri  string
	hypd *netlab.Process
}

// servicePort is the protected service behind hypd.
const servicePort = 2222

// newGatewayLab starts the lab; open is hypd's --open (how long a grant lasts).
func newGatewayLab(t *testing.T, open string) *gatewayLab {
	t.Helper()
	needs.Root(t, "builds network namespaces and runs hypd with XDP and nftables")
	lab := netlab.TempLab(t, fmt.Sprintf("hypcl-%d", os.Getpid()), 41)
	lab.Gateway.TempEcho(t, servicePort)
	work := t.TempDir()
	keys := filepath.Join(work, "keys")
	hypd := testbin.Path(t, "hypd")
	out, err := exec.Command(hypd, "secret", "new", "laptop", "--keys", keys, "--host", lab.GatewayIP().String(), "--no-check").Output()
	if err != nil {
		t.Fatalf("hypd secret new: %v", err)
	}
	return &gatewayLab{
		lab: lab,
		hyp: testbin.Path(t, "hyp"),
		uri: strings.TrimSpace(string(out)),
		hypd: lab.Gateway.TempHypd(t, hypd, "--interface", netlab.Iface, "--keys", keys,
			"--services", fmt.Sprintf("tcp/%d", servicePort), "--open", open,
			"--state", filepath.Join(work, "state"), "--control", filepath.Join(work, "hypd.sock")),
	}
}

// serviceAnswers reports whether the service echoes to the client.
func (l *gatewayLab) serviceAnswers() bool {
	return l.lab.Client.Echoes(netip.AddrPortFrom(l.lab.GatewayIP(), servicePort), 2*time.Second) == nil
}

// answered is what hyp says once the service answered.
func (l *gatewayLab) answered() string {
	return fmt.Sprintf("tcp/%d on %s answered", servicePort, l.lab.GatewayIP())
}

// TestGatewayConnectKeyring: a saved profile (in the real keyring when
// HYP_SECRET_SERVICE=1, else in a --secret-file) and "hyp connect NAME" in
// the client namespace open the service behind a real hypd and run the
// stand-in VPN command.
func TestGatewayConnectKeyring(t *testing.T) {
	l := newGatewayLab(t, "30s")
	cfg := filepath.Join(t.TempDir(), "config")
	env := append(os.Environ(), "XDG_CONFIG_HOME="+cfg, "XDG_STATE_HOME="+t.TempDir())
	hyp := func(stdin string, args ...string) (string, error) {
		cmd := l.lab.Client.Command(context.Background(), l.hyp, args...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	dir := t.TempDir()
	mark := filepath.Join(dir, "vpn-ran")
	vpn := filepath.Join(dir, "vpn.sh")
	if err := os.WriteFile(vpn, []byte("#!/bin/sh\necho \"$@\" > "+mark+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("gwtest-%d", os.Getpid())
	add := []string{"profile", "add", name, "-", "--check", "tcp/2222", "--", vpn, "up", "office vpn"}
	if os.Getenv("HYP_SECRET_SERVICE") != "1" {
		add = append(add[:4], append([]string{"--secret-file", filepath.Join(dir, "key")}, add[4:]...)...)
	} else {
		t.Cleanup(func() { hyp("", "profile", "remove", name) })
	}
	if out, err := hyp(l.uri+"\n", add...); err != nil {
		t.Fatalf("profile add: %v\n%s", err, out)
	}
	// The settings file holds no key.
	b, err := os.ReadFile(filepath.Join(cfg, "hyp", "profiles.toml"))
	secretPart := l.uri[strings.Index(l.uri, "secret=")+7:]
	secretPart = secretPart[:min(16, len(secretPart))]
	if err != nil || bytes.Contains(b, []byte(secretPart)) {
		t.Fatalf("profiles.toml: %v (holds the key: %v)", err, bytes.Contains(b, []byte(secretPart)))
	}

	if l.serviceAnswers() {
		t.Fatal("the service answered before any knock")
	}
	out, err := hyp("", "connect", name)
	if err != nil {
		t.Fatalf("hyp connect: %v\n%s", err, out)
	}
	for _, want := range []string{"knocking", l.answered(), "launched", "exited"} {
		if !strings.Contains(out, want) {
			t.Errorf("connect output lacks %q:\n%s", want, out)
		}
	}
	if got, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(got)) != "up office vpn" {
		t.Fatalf("the stand-in VPN command: %q, %v", got, err)
	}
	if !l.serviceAnswers() {
		t.Fatal("the service does not answer after hyp connect")
	}
	if strings.Contains(out, secretPart) {
		t.Fatal("hyp connect printed the key")
	}
}

// run runs the hyp CLI in the client namespace with env.
func (l *gatewayLab) run(env []string, args ...string) (string, error) {
	cmd := l.lab.Client.Command(context.Background(), l.hyp, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// granted reports whether hypd's nftables set holds a grant for the client.
func (l *gatewayLab) granted(t *testing.T) bool {
	t.Helper()
	return strings.Contains(l.lab.Gateway.Run(t, "nft", "list", "set", "inet", "hyp", "allow4"), l.lab.ClientIP().String()+" ")
}

// answeredAfter is what hyp says the check took ("answered after 1.2ms").
var answeredAfter = regexp.MustCompile(`answered after ([0-9.]+[µmn]?s)`)

// TestGatewayCheckLatency prints how long "hyp knock --check" takes on a
// veth to a real hypd: the knock, the grant and the check that sees it.
// A number to read, not to assert.
func TestGatewayCheckLatency(t *testing.T) {
	l := newGatewayLab(t, "30s")
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	start := time.Now()
	out, err := l.run(env, "knock", "--check", "tcp/2222", l.uri)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("hyp knock --check: %v\n%s", err, out)
	}
	start = time.Now()
	if out, err := l.run(env, "version"); err != nil {
		t.Fatalf("hyp version: %v\n%s", err, out)
	}
	base := time.Since(start)
	t.Logf("hyp knock --check tcp/2222 on a veth to hypd: %v (hyp version, for the cost of starting hyp: %v); hyp says %q",
		took.Round(100*time.Microsecond), base.Round(100*time.Microsecond), answeredAfter.FindString(out))
}

// TestGatewayEveryKnockCounts: with an open time (1 s) far shorter than the
// time step (30 s), three knocks from one client within one step each open
// the service: each sends a sequence hypd has not spent (this step's, the
// next's, the previous's). A fourth in the same step has none left and says
// so rather than resending a spent one.
func TestGatewayEveryKnockCounts(t *testing.T) {
	l := newGatewayLab(t, "1s")
	env := append(os.Environ(), "XDG_STATE_HOME="+t.TempDir(), "XDG_CONFIG_HOME="+t.TempDir())
	// Room for three knocks and their expiries in one step.
	waitfor.For(t, "a time step with 15 s left", 31*time.Second, func() bool { return time.Now().Unix()%30 < 15 })
	window := time.Now().Unix() / 30
	if l.granted(t) || l.serviceAnswers() {
		t.Fatal("the service answered before any knock")
	}
	for i := 1; i <= 3; i++ {
		start := time.Now()
		out, err := l.run(env, "knock", "-v", "--check", "tcp/2222", l.uri)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("knock %d in one step: %v\n%s\nhypd:\n%s", i, err, out, l.hypd.Output())
		}
		if !strings.Contains(out, l.answered()) {
			t.Fatalf("knock %d: no answer reported:\n%s", i, out)
		}
		t.Logf("knock %d: hyp knock -v --check took %v; hyp says %q", i, took.Round(100*time.Microsecond), answeredAfter.FindString(out))
		// The grant lapses after the open time; the next knock starts from a
		// closed gateway again.
		waitfor.For(t, fmt.Sprintf("the grant of knock %d to expire", i), 10*time.Second, func() bool { return !l.granted(t) })
	}
	out, err := l.run(env, "knock", "--check", "tcp/2222", l.uri)
	if now := time.Now().Unix() / 30; now != window {
		t.Fatalf("the knocks spanned time steps %d..%d; the test needs them in one", window, now)
	}
	if err == nil || !strings.Contains(out, "was sent already") {
		t.Fatalf("a fourth knock in one step: %v\n%s", err, out)
	}
	if l.granted(t) {
		t.Fatal("the fourth knock opened the gateway")
	}
	// hypd granted three different uses: windows w, w+1 and w-1.
	grants := regexp.MustCompile(`access granted" .*window=([0-9]+) counter=0`).FindAllStringSubmatch(l.hypd.Output(), -1)
	var got []string
	for _, g := range grants {
		got = append(got, g[1])
	}
	want := []string{fmt.Sprint(window), fmt.Sprint(window + 1), fmt.Sprint(window - 1)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("hypd granted windows %v, want %v:\n%s", got, want, l.hypd.Output())
	}
}
