package cli_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/needs"
	"github.com/hideyourports/hyp/internal/testbin"
	"github.com/hideyourports/hyp/internal/waitfor"
)

// gatewayLab is hypd in a gateway namespace and a client namespace joined by
// a veth pair, with a TCP service behind the gateway.
type gatewayLab struct {
	gw, cl  string // namespace names
	hyp     string // binaries
	hypd    string
	gwAddr  string
	uri     string
	hypdLog *syncBuffer
}

// sh runs a command and returns its stdout.
func sh(t *testing.T, args ...string) string {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%q: %v\n%s%s", args, err, out, stderr.Bytes())
	}
	return string(out)
}

// syncBuffer is a bytes.Buffer a child process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newGatewayLab starts the lab; open is hypd's --open (how long a grant lasts).
func newGatewayLab(t *testing.T, open string) *gatewayLab {
	t.Helper()
	needs.Root(t, "builds network namespaces and runs hypd with XDP and nftables")
	pid := os.Getpid()
	l := &gatewayLab{
		gw: fmt.Sprintf("hypcl-gw-%d", pid), cl: fmt.Sprintf("hypcl-cl-%d", pid),
		hyp:    testbin.Path(t, "hyp"),
		hypd:   testbin.Path(t, "hypd"),
		gwAddr: "10.77.40.1",
	}
	vg, vc := fmt.Sprintf("hcg%d", pid%1000000), fmt.Sprintf("hcc%d", pid%1000000)
	sh(t, "ip", "netns", "add", l.gw)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.gw).Run() })
	sh(t, "ip", "netns", "add", l.cl)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.cl).Run() })
	sh(t, "ip", "link", "add", vg, "type", "veth", "peer", "name", vc)
	t.Cleanup(func() { exec.Command("ip", "link", "del", vg).Run() }) // only if moving it failed
	sh(t, "ip", "link", "set", vg, "netns", l.gw)
	sh(t, "ip", "link", "set", vc, "netns", l.cl)
	sh(t, "ip", "-n", l.gw, "addr", "add", l.gwAddr+"/24", "dev", vg)
	sh(t, "ip", "-n", l.cl, "addr", "add", "10.77.40.2/24", "dev", vc)
	for _, ns := range []struct{ ns, dev string }{{l.gw, vg}, {l.cl, vc}} {
		sh(t, "ip", "-n", ns.ns, "link", "set", ns.dev, "up")
		sh(t, "ip", "-n", ns.ns, "link", "set", "lo", "up")
	}

	svc := exec.Command("ip", "netns", "exec", l.gw, "socat", "TCP-LISTEN:2222,fork,reuseaddr", "SYSTEM:echo hello from the hidden service")
	if err := svc.Start(); err != nil {
		t.Fatalf("starting the service: %v", err)
	}
	t.Cleanup(func() { svc.Process.Kill(); svc.Wait() })

	work := t.TempDir()
	keys := filepath.Join(work, "keys")
	l.uri = strings.TrimSpace(sh(t, l.hypd, "secret", "new", "laptop", "--keys", keys, "--host", l.gwAddr))
	l.hypdLog = &syncBuffer{}
	hypd := exec.Command("ip", "netns", "exec", l.gw, l.hypd, "run", "--interface", vg, "--keys", keys,
		"--services", "tcp/2222", "--open", open, "--state", filepath.Join(work, "state"), "--control", filepath.Join(work, "hypd.sock"))
	hypd.Stdout, hypd.Stderr = l.hypdLog, l.hypdLog
	if err := hypd.Start(); err != nil {
		t.Fatalf("starting hypd: %v", err)
	}
	exited := make(chan struct{})
	go func() { hypd.Wait(); close(exited) }()
	t.Cleanup(func() {
		hypd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			hypd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("hypd log:\n%s", l.hypdLog)
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(l.hypdLog.String(), "hypd running") {
		select {
		case <-exited:
			t.Fatalf("hypd exited:\n%s", l.hypdLog)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("hypd did not start:\n%s", l.hypdLog)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return l
}

// serviceAnswers dials the service from the client namespace.
func (l *gatewayLab) serviceAnswers(t *testing.T) bool {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", l.cl, "socat", "-T2", "-", "TCP:"+net.JoinHostPort(l.gwAddr, "2222")+",connect-timeout=2").CombinedOutput()
	return err == nil && strings.Contains(string(out), "hello from the hidden service")
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
		cmd := exec.Command("ip", append([]string{"netns", "exec", l.cl, l.hyp}, args...)...)
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

	if l.serviceAnswers(t) {
		t.Fatal("the service answered before any knock")
	}
	out, err := hyp("", "connect", name)
	if err != nil {
		t.Fatalf("hyp connect: %v\n%s", err, out)
	}
	for _, want := range []string{"knocking", "tcp/2222 on 10.77.40.1 answered", "launched", "exited"} {
		if !strings.Contains(out, want) {
			t.Errorf("connect output lacks %q:\n%s", want, out)
		}
	}
	if got, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(got)) != "up office vpn" {
		t.Fatalf("the stand-in VPN command: %q, %v", got, err)
	}
	if !l.serviceAnswers(t) {
		t.Fatal("the service does not answer after hyp connect")
	}
	if strings.Contains(out, secretPart) {
		t.Fatal("hyp connect printed the key")
	}
}

// run runs the hyp CLI in the client namespace with env.
func (l *gatewayLab) run(env []string, args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", l.cl, l.hyp}, args...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// granted reports whether hypd's nftables set holds a grant for the client.
func (l *gatewayLab) granted(t *testing.T) bool {
	t.Helper()
	return strings.Contains(sh(t, "ip", "netns", "exec", l.gw, "nft", "list", "set", "inet", "hyp", "allow4"), "10.77.40.2 ")
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
	if l.granted(t) || l.serviceAnswers(t) {
		t.Fatal("the service answered before any knock")
	}
	for i := 1; i <= 3; i++ {
		start := time.Now()
		out, err := l.run(env, "knock", "-v", "--check", "tcp/2222", l.uri)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("knock %d in one step: %v\n%s\nhypd:\n%s", i, err, out, l.hypdLog)
		}
		if !strings.Contains(out, "tcp/2222 on 10.77.40.1 answered") {
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
	grants := regexp.MustCompile(`access granted" .*window=([0-9]+) counter=0`).FindAllStringSubmatch(l.hypdLog.String(), -1)
	var got []string
	for _, g := range grants {
		got = append(got, g[1])
	}
	want := []string{fmt.Sprint(window), fmt.Sprint(window + 1), fmt.Sprint(window - 1)}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("hypd granted windows %v, want %v:\n%s", got, want, l.hypdLog)
	}
}
