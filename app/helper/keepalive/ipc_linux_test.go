package keepalive_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper/keepalive"
	"github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// gateKnocker records knocks; gateChecker answers only once opened.
type gateKnocker struct {
	mu    sync.Mutex // guards hosts
	hosts []string
}

func (k *gateKnocker) Knock(_ context.Context, p profiles.Profile, _ time.Time, _ uint32) (knock.Result, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.hosts = append(k.hosts, p.Host)
	return knock.Result{Target: netip.MustParseAddr("192.0.2.7"), Ports: []uint16{1, 2, 3, 4}}, nil
}

type gateChecker struct{ open atomic.Bool }

func (c *gateChecker) Check(ctx context.Context, _ string, _ uint16) error {
	if c.open.Load() {
		return nil
	}
	<-ctx.Done()
	return errors.New("i/o timeout")
}

// vpnLauncher starts a stand-in VPN command that runs until cancelled.
type vpnLauncher struct {
	mu   sync.Mutex // guards argv
	argv [][]string
}

type runningVPN struct{ ctx context.Context }

func (p runningVPN) Wait() error { <-p.ctx.Done(); return p.ctx.Err() }

func (l *vpnLauncher) Start(ctx context.Context, argv []string) (connect.Process, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.argv = append(l.argv, slices.Clone(argv))
	return runningVPN{ctx}, nil
}

// ipcHelper runs a real Runner serving a real unix socket in a directory
// nobody can traverse to.
type ipcHelper struct {
	addr    string
	checker *gateChecker
	knocker *gateKnocker
	vpn     *vpnLauncher
	store   store.Store
}

func startIPCHelper(t testing.TB, cfg helperipc.Config) *ipcHelper {
	t.Helper()
	needRoot(t)
	tmp, err := os.MkdirTemp("", "hyp-ipc-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	os.Chmod(tmp, 0o755)
	h := &ipcHelper{addr: filepath.Join(tmp, "run", "helper.sock"), checker: &gateChecker{}, knocker: &gateKnocker{}, vpn: &vpnLauncher{},
		store: store.Store{Dir: filepath.Join(tmp, "store")}}
	// The test knocks more often in one time step than a one-use key allows (failed checks,
	// a connect, a renewal); the gateway behind this key would accept eight.
	office := testProfile(t, "office")
	office.Uses = 8
	if err := h.store.Add(office, false); err != nil {
		t.Fatal(err)
	}
	cfg.Address = h.addr
	ln, err := helperipc.Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := &keepalive.Runner{
		Store: h.store,
		Connector: &connect.Connector{Knocker: h.knocker, Checker: h.checker, Launcher: h.vpn,
			CheckWait: 200 * time.Millisecond, MaxDial: 50 * time.Millisecond},
		// The loop waits an hour after a failure: only a request over the
		// channel makes it knock again within the test.
		Retry: time.Hour,
		IPC:   ln,
		Logf:  t.Logf,
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("runner: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("the runner did not stop")
		}
		if _, err := os.Stat(h.addr); err == nil {
			t.Error("the socket outlived the helper")
		}
	})
	return h
}

func (h *ipcHelper) client() *helperipc.Client { return &helperipc.Client{Address: h.addr} }

// waitState polls the helper's list until cond holds for office.
func waitState(t *testing.T, c *helperipc.Client, what string, cond func(helperipc.ProfileState) bool) helperipc.ProfileState {
	t.Helper()
	var ps []helperipc.ProfileState
	var found helperipc.ProfileState
	if !waitfor.Until(10*time.Second, func() bool {
		var err error
		if ps, err = c.List(context.Background()); err != nil {
			t.Fatalf("list: %v", err)
		}
		for _, p := range ps {
			if p.Name == "office" && cond(p) {
				found = p
				return true
			}
		}
		return false
	}) {
		t.Fatalf("office never got to %s: %+v", what, ps)
	}
	return found
}

// TestIPCKnockAndConnect drives a real helper over its real socket: live
// state of a profile whose gateway stays closed, then Knock & Connect once
// it opens, then a hand-over that starts a second profile at once.
func TestIPCKnockAndConnect(t *testing.T) {
	h := startIPCHelper(t, helperipc.Config{})
	c := h.client()

	failed := waitState(t, c, "a failure", func(p helperipc.ProfileState) bool { return p.LastError != "" })
	if failed.Connected || !strings.Contains(failed.LastError, "no answer from tcp/443") || failed.Host != "192.0.2.7" {
		t.Fatalf("closed gateway: %+v", failed)
	}

	h.checker.open.Store(true)
	var steps []string
	start := time.Now()
	if err := c.Connect(context.Background(), "office", func(s helperipc.Step) { steps = append(steps, s.Kind) }); err != nil {
		t.Fatalf("connect: %v (steps %v)", err, steps)
	}
	t.Logf("Knock & Connect through the helper took %v: %v", time.Since(start), steps)
	if want := []string{"knocking", "checking", "connected", "launched"}; !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	up := waitState(t, c, "connected", func(p helperipc.ProfileState) bool { return p.Connected })
	h.vpn.mu.Lock()
	argv := slices.Clone(h.vpn.argv)
	h.vpn.mu.Unlock()
	if up.LastKnock.IsZero() || up.LastError != "" || len(argv) != 1 || argv[0][0] != "/usr/bin/wg-quick" {
		t.Fatalf("after connect: %+v, launched %v", up, argv)
	}

	// Asked again while up: nothing is sent (TestIPCConnectWhileUpSpendsNothing).
	if err := c.Connect(context.Background(), "nope", nil); !errors.Is(err, helperipc.ErrNotFound) || !strings.Contains(err.Error(), "[office]") {
		t.Fatalf("connect of an unknown profile: %v", err)
	}

	// Root hands a profile over: stored, and kept alive without a restart.
	home := testProfile(t, "home")
	home.Command = nil
	ho := helperipc.HandOver{Name: "home", URI: helperipc.NewSecret(home.URI()), KeepAlive: 30 * time.Second}
	if err := c.Add(context.Background(), ho); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(context.Background(), ho); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a second hand-over of home: %v", err)
	}
	if _, err := os.Stat(h.store.Path("home")); err != nil {
		t.Fatalf("the handed-over profile is not in the store: %v", err)
	}
	var ps []helperipc.ProfileState
	if !waitfor.Until(10*time.Second, func() bool {
		ps, _ = c.List(context.Background())
		return len(ps) == 2 && ps[0].Name == "home" && ps[0].Connected
	}) {
		t.Fatalf("home is not kept alive after the hand-over: %+v", ps)
	}

	// No answer carries a key: the raw list has no secret in it.
	_, raw := rawExchange(t, h.addr, http.MethodGet, helperipc.PathProfiles, "")
	secret := home.Key.Encode()
	if strings.Contains(raw, secret) || strings.Contains(raw, "secret") {
		t.Fatalf("the list leaks a key: %s", raw)
	}
	if s := fmtSecret(ho); strings.Contains(s, secret) {
		t.Fatalf("a printed hand-over shows its key: %s", s)
	}
}

func fmtSecret(h helperipc.HandOver) string {
	b, _ := json.Marshal(struct{ S string }{h.URI.String()})
	return string(b) + " " + h.URI.GoString()
}

// rawExchange sends one HTTP request over the helper's socket and returns the status and
// everything the helper answers.
func rawExchange(t *testing.T, addr, method, path, body string) (int, string) {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", addr)
		}}}
	req, err := http.NewRequest(method, "http://hyp-helper"+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestIPCBadRequests: each malformed request gets an error naming what was wrong, and the
// helper keeps serving.
func TestIPCBadRequests(t *testing.T) {
	h := startIPCHelper(t, helperipc.Config{})
	for _, c := range []struct {
		method, path, body string
		status             int
		code, want         string
	}{
		{"GET", "/v1/profiles", "", 400, "version", "protocol version 1 is not spoken here"},
		{"POST", "/v2/reboot", "{}", 404, "bad_request", `unknown operation "POST /v2/reboot"`},
		{"POST", helperipc.PathProfiles, "{}", 404, "bad_request", "unknown operation"},
		{"POST", helperipc.PathConnect, "not json", 400, "bad_request", "malformed"},
		{"POST", helperipc.PathConnect, "{}", 400, "bad_request", "no profile name"},
		{"POST", helperipc.PathAdd, "{}", 400, "bad_request", "no profile"},
		{"POST", helperipc.PathConnect, `{"name":"` + strings.Repeat("x", helperipc.MaxMessage) + `"}`, 413, "bad_request", "message over"},
	} {
		status, got := rawExchange(t, h.addr, c.method, c.path, c.body)
		var e helperipc.ErrorBody
		if err := json.Unmarshal([]byte(got), &e); err != nil || status != c.status || e.Code != c.code || !strings.Contains(e.Error, c.want) {
			t.Errorf("%s %s %.40s: answered %d %q, want %d, a %s error with %q", c.method, c.path, c.body, status, got, c.status, c.code, c.want)
		}
	}
	if _, err := h.client().List(context.Background()); err != nil {
		t.Fatalf("the helper stopped serving after bad requests: %v", err)
	}
}

// TestIPCPeerCredentials runs the client as nobody (uid 65534) in a child
// process: refused where nobody is not allowed, even though the socket's
// mode lets it connect (the peer check is the gate); allowed to list but not
// to hand over where it is listed.
func TestIPCPeerCredentials(t *testing.T) {
	if addr := os.Getenv("HYP_IPC_CHILD_ADDR"); addr != "" {
		c := &helperipc.Client{Address: addr}
		_, lerr := c.List(context.Background())
		aerr := c.Add(context.Background(), helperipc.HandOver{Name: "evil", URI: helperipc.NewSecret(uri), Command: []string{"/bin/sh", "-c", "id"}})
		b, _ := json.Marshal(map[string]string{"list": errText(lerr), "add": errText(aerr),
			"list_denied": yes(errors.Is(lerr, helperipc.ErrDenied)), "add_denied": yes(errors.Is(aerr, helperipc.ErrDenied))})
		os.Stdout.Write(append(b, '\n'))
		return
	}
	for _, c := range []struct {
		name     string
		cfg      helperipc.Config
		listOK   bool
		listWant string
	}{
		{"not in the group", helperipc.Config{Group: "hyp-no-such-group", Mode: 0o666}, false, "nobody (uid 65534) may not use the helper service: the group hyp-no-such-group does not exist"},
		{"listed uid", helperipc.Config{Group: "hyp-no-such-group", Mode: 0o666, UIDs: []int{65534}}, true, ""},
		{"socket mode", helperipc.Config{Group: "hyp-no-such-group"}, false, "does not admit you (root and members of the group hyp may use it)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := startIPCHelper(t, c.cfg)
			got := asNobody(t, "^TestIPCPeerCredentials$", "HYP_IPC_CHILD_ADDR="+h.addr)
			if (got["list"] == "") != c.listOK || !strings.Contains(got["list"], c.listWant) {
				t.Errorf("list as nobody: %q (want ok=%v, %q)", got["list"], c.listOK, c.listWant)
			}
			if c.listOK != (got["list_denied"] == "") {
				t.Errorf("list denial not reported as ErrDenied: %v", got)
			}
			if got["add_denied"] == "" || !strings.Contains(got["add"], "may not") && !strings.Contains(got["add"], "does not admit you") {
				t.Errorf("a hand-over from nobody: %q", got["add"])
			}
			if _, err := os.Stat(h.store.Path("evil")); err == nil {
				t.Error("nobody's hand-over reached the store")
			}
		})
	}
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return ""
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// asNobody runs this test binary as uid 65534 and decodes the JSON line it prints.
func asNobody(t *testing.T, run string, env ...string) map[string]string {
	t.Helper()
	tmp, bin := testbin.CopySelf(t)
	cmd := exec.Command(bin, "-test.run", run)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	var got map[string]string
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("as nobody printed %q: %v", out, err)
	}
	return got
}

// BenchmarkIPCList: one list request over the real socket, connection,
// peer check and answer included (what the tray pays every poll).
func BenchmarkIPCList(b *testing.B) {
	h := startIPCHelper(b, helperipc.Config{})
	c := h.client()
	for b.Loop() {
		if _, err := c.List(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
