package cli_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// keyLab is a gatewayLab whose key was made by `hypd secret new --services`, so its file is
// the gateway's TOML key file and its URI carries check= and kc=; the test can revoke it.
type keyLab struct {
	gatewayLab
	keyFile string   // the key file on the gateway
	env     []string // hyp's environment: its own state and config directories
	state   string   // hyp's knock state file
}

// newKeyLab starts hypd with one key; open is hypd's --open.
func newKeyLab(t *testing.T, open string) *keyLab {
	t.Helper()
	needs.Root(t, "builds network namespaces and runs hypd with XDP and nftables")
	lab := netlab.TempLab(t, fmt.Sprintf("hypkc-%d", os.Getpid()), 42)
	lab.Gateway.TempEcho(t, servicePort)
	work := t.TempDir()
	keys := filepath.Join(work, "keys")
	hypd := testbin.Path(t, "hypd")
	service := fmt.Sprintf("tcp/%d", servicePort)
	out, err := exec.Command(hypd, "secret", "new", "laptop", "--keys", keys, "--host", lab.GatewayIP().String(), "--services", service).Output()
	if err != nil {
		t.Fatalf("hypd secret new: %v", err)
	}
	stateDir := t.TempDir()
	l := &keyLab{
		gatewayLab: gatewayLab{
			lab: lab,
			hyp: testbin.Path(t, "hyp"),
			uri: strings.TrimSpace(string(out)),
			hypd: lab.Gateway.TempHypd(t, hypd, "--interface", netlab.Iface, "--keys", keys,
				"--services", service, "--open", open,
				"--state", filepath.Join(work, "state"), "--control", filepath.Join(work, "hypd.sock")),
		},
		keyFile: filepath.Join(keys, "laptop.toml"),
		env:     append(os.Environ(), "XDG_STATE_HOME="+stateDir, "XDG_CONFIG_HOME="+t.TempDir()),
		state:   filepath.Join(stateDir, "hyp", "knocks.json"),
	}
	if _, err := os.Stat(l.keyFile); err != nil {
		t.Fatalf("hypd secret new --services wrote no TOML key file: %v", err)
	}
	return l
}

// knockState is hyp's knock state file as it is now ("" when there is none).
func (l *keyLab) knockState(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(l.state)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

// grants is how many knocks hypd has granted.
func (l *keyLab) grants() int { return strings.Count(l.hypd.Output(), `access granted"`) }

// waitStep waits for a time step with at least left seconds to go and returns it.
func waitStep(t *testing.T, left int64) int64 {
	t.Helper()
	waitfor.For(t, fmt.Sprintf("a time step with %d s left", left), 31*time.Second, func() bool { return 30-time.Now().Unix()%30 >= left })
	return time.Now().Unix() / 30
}

// sameStep fails the test when the step has moved on since window: the test is about
// knocks within one step.
func sameStep(t *testing.T, window int64) {
	t.Helper()
	if now := time.Now().Unix() / 30; now != window {
		t.Fatalf("the knocks spanned time steps %d..%d; the test needs them in one", window, now)
	}
}

// TestGatewayCheckWhileOpenSendsNothing: while a grant is open, the second to fifth
// `hyp knock --check` (and a `hyp connect --knock-only`) within one time step exit 0 without
// sending a knock: hyp asks the service first and it answers. The knock state does not change
// and hypd grants once. (Before, the fourth exited 1 with "every knock ... was sent already".)
func TestGatewayCheckWhileOpenSendsNothing(t *testing.T) {
	l := newKeyLab(t, "2m")
	window := waitStep(t, 15)
	out, err := l.run(l.env, "knock", "--check", "tcp/2222", l.uri)
	if err != nil || !strings.Contains(out, l.answered()) {
		t.Fatalf("the first knock: %v\n%s", err, out)
	}
	after := l.knockState(t)
	if after == "" {
		t.Fatal("the first knock left no knock state")
	}
	for i := 2; i <= 6; i++ {
		args := []string{"knock", "--check", "tcp/2222", l.uri}
		if i == 6 {
			args = []string{"connect", "--knock-only", l.uri}
		}
		start := time.Now()
		out, err := l.run(l.env, args...)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s %d while the grant is open: %v\n%s", args[0], i, err, out)
		}
		t.Logf("%s %d while the grant is open took %v (a number to read, not to assert)", args[0], i, took.Round(100*time.Microsecond))
		if want := fmt.Sprintf("tcp/%d on %s already answers from here", servicePort, l.lab.GatewayIP()); !strings.Contains(out, want) || !strings.Contains(out, "no knock sent") {
			t.Fatalf("%s %d says:\n%s\nwant %q and no knock sent", args[0], i, out, want)
		}
		if now := l.knockState(t); now != after {
			t.Fatalf("%s %d changed the knock state (a knock was reserved):\nbefore %s\nafter  %s", args[0], i, after, now)
		}
	}
	sameStep(t, window)
	if n := l.grants(); n != 1 {
		t.Fatalf("hypd granted %d knocks, want 1: only the first knock was sent\n%s", n, l.hypd.Output())
	}
}

// TestGatewayRevokedKeySaysWhy: once the gateway no longer holds the key, knocks get no
// answer; when the step's knocks are spent, hyp still gives that cause (no answer, is the
// clock right?) and when the next knock is accepted, not merely that the knocks were spent.
func TestGatewayRevokedKeySaysWhy(t *testing.T) {
	l := newKeyLab(t, "1s")
	if err := os.Remove(l.keyFile); err != nil {
		t.Fatal(err)
	}
	if err := l.hypd.WaitOutput("no keys loaded", 10*time.Second); err != nil {
		t.Fatalf("hypd did not drop the revoked key: %v\n%s", err, l.hypd.Output())
	}
	// Three runs: two knocks, one knock and a spent budget, a spent budget. Each check
	// waits 3 s.
	window := waitStep(t, 25)
	var outs []string
	for i := 1; i <= 3; i++ {
		out, err := l.run(l.env, "knock", "--check", "tcp/2222", l.uri)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("run %d with a revoked key: %v, want exit 1\n%s", i, err, out)
		}
		outs = append(outs, out)
	}
	sameStep(t, window)
	cause := regexp.MustCompile(fmt.Sprintf(`no answer from tcp/%d on %s after (two|[0-9]+) knocks — is the clock right\? local time is `,
		servicePort, regexp.QuoteMeta(l.lab.GatewayIP().String())))
	for i, out := range outs {
		if !cause.MatchString(out) {
			t.Errorf("run %d does not give the cause:\n%s", i+1, out)
		}
		if i > 0 && !strings.Contains(out, "the next one is accepted from") {
			t.Errorf("run %d (the step's knocks spent) does not say when the next is accepted:\n%s", i+1, out)
		}
	}
	t.Logf("the third run says: %s", strings.TrimSpace(outs[2]))
	if strings.Contains(outs[2], "after two knocks") {
		t.Errorf("the third run counts two knocks; three were sent without an answer:\n%s", outs[2])
	}
	if n := l.grants(); n != 0 {
		t.Fatalf("hypd granted a revoked key %d times", n)
	}
}

// TestGatewayUnknownNameSpendsNothing: a host name that does not resolve fails at once with
// the resolver's reason (exit 2) and reserves no knock, so it cannot spend the real gateway's.
func TestGatewayUnknownNameSpendsNothing(t *testing.T) {
	l := newKeyLab(t, "1m")
	out, err := l.run(l.env, "knock", "--check", "tcp/2222", l.uri)
	if err != nil {
		t.Fatalf("the first knock: %v\n%s", err, out)
	}
	before := l.knockState(t)
	bad := strings.Replace(l.uri, "hyp://"+l.lab.GatewayIP().String(), "hyp://nosuch.invalid", 1)
	for i := 0; i < 4; i++ {
		out, err = l.run(l.env, "knock", "--check", "tcp/2222", bad)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "cannot find nosuch.invalid") {
			t.Fatalf("knocking nosuch.invalid: %v, want exit 2 and the resolver's reason\n%s", err, out)
		}
	}
	if strings.Contains(out, "sent already") {
		t.Fatalf("an unknown name is blamed on spent knocks:\n%s", out)
	}
	t.Logf("the fourth knock of nosuch.invalid says: %s", strings.TrimSpace(out))
	if after := l.knockState(t); after != before {
		t.Fatalf("an unknown name changed the knock state:\nbefore %s\nafter  %s", before, after)
	}
}

// TestGatewayKeyCheck: the URI of `hypd secret new` carries kc= and check=; the same URI
// with one character appended to its key fails at parse time (exit 2, nothing sent). (An "A"
// appended is the key K||0x00, which knocks the same v2 sequence as K, since HMAC pads its
// key with zeros: without kc it would pass unnoticed.)
func TestGatewayKeyCheck(t *testing.T) {
	l := newKeyLab(t, "30s")
	p, warnings, err := profile.Parse(l.uri)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("hypd secret new printed a URI that does not parse cleanly: %v %q", err, warnings)
	}
	if !strings.Contains(l.uri, "&kc=") || p.CheckPort != servicePort {
		t.Fatalf("hypd secret new --services: the URI lacks kc= or check=tcp/%d (check port %d)", servicePort, p.CheckPort)
	}
	secret := p.Key.Encode()
	typo := strings.Replace(l.uri, "secret="+secret, "secret="+secret+"A", 1)
	out, err := l.run(l.env, "knock", typo)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(out, "the key does not match its check") {
		t.Fatalf("a key with one character appended: %v, want exit 2 and the check message\n%s", err, out)
	}
	if bytes.Contains([]byte(out), []byte(secret[:16])) {
		t.Fatal("the error shows the key")
	}
	if s := l.knockState(t); s != "" || l.grants() != 0 || l.serviceAnswers() {
		t.Fatalf("a mistyped key was knocked (state %q, %d grants)", s, l.grants())
	}
}

// TestGatewaySecretTOML: `hyp knock HOST --secret laptop.toml` knocks with the gateway's own
// TOML key file (secret = "…", what `hypd secret new --services` writes), taking its check
// port from the file's services.
func TestGatewaySecretTOML(t *testing.T) {
	l := newKeyLab(t, "30s")
	out, err := l.run(l.env, "knock", l.lab.GatewayIP().String(), "--secret", l.keyFile)
	if err != nil {
		t.Fatalf("hyp knock --secret %s: %v\n%s", filepath.Base(l.keyFile), err, out)
	}
	if !strings.Contains(out, l.answered()) || l.grants() != 1 {
		t.Fatalf("hyp knock --secret %s did not check tcp/%d or was not granted (%d grants):\n%s", filepath.Base(l.keyFile), servicePort, l.grants(), out)
	}
}
