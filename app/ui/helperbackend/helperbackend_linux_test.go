package helperbackend_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/hideyourports/hyp/app/cli"
	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper/keepalive"
	helperstore "github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui"
	"github.com/hideyourports/hyp/app/ui/corebackend"
	"github.com/hideyourports/hyp/app/ui/helperbackend"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// realHelper runs the real helper runner, on the real network (knocks to
// loopback, a real TCP check, a real VPN stand-in process), serving a real
// unix socket. Its one profile, office, checks a loopback port that nothing
// listens on until the test opens it: the "gateway".
type realHelper struct {
	addr, store string
	port        int
	mark        string // the VPN stand-in writes here when it starts
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func startHelper(t *testing.T) *realHelper {
	t.Helper()
	needs.Root(t, "the helper store is root-only")
	dir := t.TempDir()
	h := &realHelper{addr: filepath.Join(dir, "run", "helper.sock"), store: filepath.Join(dir, "store"), port: freePort(t), mark: filepath.Join(dir, "vpn-up")}
	k, _ := psk.Generate()
	cp := profile.Profile{Name: "office", Host: "127.0.0.1", Key: k, Params: sequence.Defaults(), CheckPort: uint16(h.port)}
	p := profiles.FromURI("office", cp)
	p.Command = []string{"/bin/sh", "-c", "echo up > " + h.mark + "; exec sleep 600"}
	p.KeepAlive = 30 * time.Second
	if err := (helperstore.Store{Dir: h.store}).Add(p, false); err != nil {
		t.Fatal(err)
	}
	ln, err := helperipc.Listen(helperipc.Config{Address: h.addr})
	if err != nil {
		t.Fatal(err)
	}
	r := &keepalive.Runner{Store: helperstore.Store{Dir: h.store}, IPC: ln, Retry: time.Hour, Logf: t.Logf,
		Connector: &connect.Connector{CheckWait: 300 * time.Millisecond, MaxDial: 100 * time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the helper did not stop")
		}
	})
	return h
}

// openGateway makes office's check port answer.
func (h *realHelper) openGateway(t *testing.T) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(h.port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

type notes struct {
	mu  sync.Mutex // guards got
	got []string
}

func (n *notes) notify(x *fyne.Notification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x.Title+": "+x.Content)
}

func (n *notes) has(s string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, g := range n.got {
		if strings.Contains(g, s) {
			return true
		}
	}
	return false
}

func labels(m *fyne.Menu) []string {
	var out []string
	for _, it := range m.Items {
		out = append(out, it.Label)
	}
	return out
}

func item(m *fyne.Menu, label string) *fyne.MenuItem {
	for _, it := range m.Items {
		if it.Label == label {
			return it
		}
	}
	return nil
}

// eventually waits for cond on the tray's menu.
func eventually(t *testing.T, tr *ui.Tray, what string, cond func(labels []string) bool) {
	t.Helper()
	if !waitfor.Until(15*time.Second, func() bool { m := tr.Menu(); return m != nil && cond(labels(m)) }) {
		t.Fatalf("the menu never showed %s: %q", what, labels(tr.Menu()))
	}
}

func hasLine(ls []string, prefix, part string) bool {
	for _, l := range ls {
		if strings.HasPrefix(l, prefix) && strings.Contains(l, part) {
			return true
		}
	}
	return false
}

func hasPrefix(ls []string, p string) bool {
	for _, l := range ls {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// findButton walks the window's widgets for a button.
func findButton(o fyne.CanvasObject, text string) *widget.Button {
	switch x := o.(type) {
	case *widget.Button:
		if x.Text == text {
			return x
		}
	case *fyne.Container:
		for _, c := range x.Objects {
			if b := findButton(c, text); b != nil {
				return b
			}
		}
	case fyne.Widget:
		r := test.WidgetRenderer(x)
		for _, c := range r.Objects() {
			if b := findButton(c, text); b != nil {
				return b
			}
		}
	}
	return nil
}

// TestTrayWithRealHelper: the tray lists the running helper's profile with
// its live state, Knock & Connect on it makes the helper knock and start the
// VPN command (as the helper), and "Run as a service…" in the window hands a
// keyring profile to the helper, which keeps it up at once.
func TestTrayWithRealHelper(t *testing.T) {
	h := startHelper(t)
	const hyp = "/usr/bin/hyp"

	store, err := profiles.Open(profiles.Options{Dir: t.TempDir(), Secrets: profiles.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := psk.Generate()
	home := profiles.FromURI("home", profile.Profile{Host: "127.0.0.1", Key: k, Params: sequence.Defaults()})
	home.KeepAlive = 30 * time.Second
	if err := store.Put(home, false); err != nil {
		t.Fatal(err)
	}
	var elevated []string
	var elevMu sync.Mutex // guards elevated
	b := &helperbackend.Backend{
		Backend: corebackend.New(store, &connect.Connector{State: &knockstate.Memory{}}),
		Store:   store,
		Client:  &helperipc.Client{Address: h.addr},
		Hyp:     hyp,
		// Stands in for pkexec, which would ask for a password and then run
		// the same command as root: this test is root already, and runs the
		// hyp command in-process, reading the user's store as 'hyp helper
		// add' does under pkexec.
		Elevate: func(ctx context.Context, argv []string, stdin string) error {
			elevMu.Lock()
			elevated = argv
			elevMu.Unlock()
			var out strings.Builder
			env := &cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &out,
				Profiles: func() (*profiles.Store, error) { return store, nil }}
			if code := cli.Run(ctx, env, argv[1:]); code != 0 {
				return fmt.Errorf("hyp helper add: exit %d: %s", code, out.String())
			}
			if !strings.Contains(out.String(), "handed profile home") {
				return fmt.Errorf("hyp helper add did not hand over: %s", out.String())
			}
			return nil
		},
	}
	a := test.NewTempApp(t)
	n := &notes{}
	tr := ui.NewTray(a, b, ui.Options{Notify: n.notify, ServicePoll: 50 * time.Millisecond})
	tr.Show(nil, nil)
	t.Cleanup(func() { tr.Shutdown(5 * time.Second) })

	// The helper's profile, next to the user's, with why it is down.
	eventually(t, tr, "office as a service, down", func(ls []string) bool {
		return hasPrefix(ls, "Knock & Connect: home") && hasPrefix(ls, "Knock & Connect: office (service)") && hasLine(ls, "    down, knocked ", ": no answer from tcp/"+strconv.Itoa(h.port))
	})
	if item(tr.Menu(), "Knock only: office (service)") != nil {
		t.Error("a helper profile offers Knock only: the helper keeps it up, it has no test knock")
	}

	// The gateway opens; the click asks the helper, which launches the VPN.
	h.openGateway(t)
	item(tr.Menu(), "Knock & Connect: office (service)").Action()
	waitfor.For(t, "a result of Knock & Connect", 15*time.Second, func() bool { _, ok := tr.Last(); return ok })
	if r, _ := tr.Last(); r.Err != nil || r.Profile != "office (service)" {
		t.Fatalf("result: %+v", r)
	}
	// Launched is reported as the command starts, before it has run a line.
	waitfor.For(t, "the helper to start the VPN command", 15*time.Second, func() bool {
		_, err := os.Stat(h.mark)
		return err == nil
	})
	if !n.has("hyp: office (service) connected") {
		t.Error("no notification of the result")
	}
	eventually(t, tr, "office up", func(ls []string) bool { return hasPrefix(ls, "    up, knocked ") })

	// Run as a service…: home goes to the helper through the elevated CLI.
	w := tr.ShowWindow()
	btn := findButton(w.Window().Content(), "Run as a service…")
	if btn == nil || btn.Disabled() {
		t.Fatalf("no enabled Run as a service… button (%v)", btn)
	}
	test.Tap(btn)
	eventually(t, tr, "home as a service", func(ls []string) bool { return hasPrefix(ls, "Knock & Connect: home (service)") })
	waitfor.For(t, "a notification that home was handed over", 10*time.Second, func() bool { return n.has("hyp: home runs as a service") })
	// The window's step list is written by the hand-over's goroutine (fyne's
	// test driver runs fyne.Do there): read it once the tray has stopped it.
	tr.Shutdown(5 * time.Second)
	if !strings.Contains(w.StepsText(), "home runs as a service now") {
		t.Errorf("the window does not say home was handed over: %q", w.StepsText())
	}
	elevMu.Lock()
	argv := strings.Join(elevated, " ")
	elevMu.Unlock()
	// home has no VPN command: the elevated hyp is told so on its command line, where polkit's
	// dialog shows it.
	if want := hyp + " helper add --force --socket " + h.addr + " --no-command home -"; argv != want {
		t.Errorf("elevated %q, want %q", argv, want)
	}
	if strings.Contains(argv, k.Encode()) {
		t.Error("the secret is on the elevated command line")
	}
	if _, err := os.Stat(filepath.Join(h.store, "home.toml")); err != nil {
		t.Errorf("home is not in the helper's store: %v", err)
	}
}

// TestTrayWithoutHelper: no helper socket, no service rows, no error: the
// tray is what it was.
func TestTrayWithoutHelper(t *testing.T) {
	store, err := profiles.Open(profiles.Options{Dir: t.TempDir(), Secrets: profiles.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	b := &helperbackend.Backend{Backend: corebackend.New(store, &connect.Connector{State: &knockstate.Memory{}}), Store: store,
		Client: &helperipc.Client{Address: filepath.Join(t.TempDir(), "none.sock")}}
	if _, err := b.HelperProfiles(context.Background()); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Fatalf("HelperProfiles without a helper: %v", err)
	}
	tr := ui.NewTray(test.NewTempApp(t), b, ui.Options{ServicePoll: 20 * time.Millisecond})
	tr.Show(nil, nil)
	t.Cleanup(func() { tr.Shutdown(5 * time.Second) })
	tr.RefreshService()
	want := []string{"No profiles yet", "", "Manage profiles…", "", "No knock yet", "", "Quit"}
	if got := labels(tr.Menu()); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("menu without a helper: %q, want %q", got, want)
	}
}
