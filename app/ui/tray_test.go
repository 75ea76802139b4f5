package ui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

var testTime = time.Date(2026, 3, 1, 15, 4, 5, 0, time.UTC)

// newTestTray is a tray on fyne's test app with one saved profile, "office".
func newTestTray(t *testing.T) (*Tray, *fakeBackend, *fakeHost, *notes) {
	t.Helper()
	a := test.NewTempApp(t)
	b := newFake()
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Save("", Profile{Name: "office", Host: "10.77.1.1", Params: sequence.Defaults(), CheckPort: 22,
		Command: []string{"wg-quick", "up", "office"}}, k); err != nil {
		t.Fatal(err)
	}
	n := &notes{}
	tr := NewTray(a, b, Options{Now: func() time.Time { return testTime }, Notify: n.notify})
	h := &fakeHost{}
	tr.Show(h, nil)
	t.Cleanup(func() { tr.cancel(); tr.Wait() })
	return tr, b, h, n
}

func TestMenuIsBuiltFromProfiles(t *testing.T) {
	tr, _, h, _ := newTestTray(t)
	want := []string{"Knock & Connect: office", "Knock only: office", "---", "Manage profiles…", "---",
		"No knock yet", "---", "Quit"}
	if got := labels(tr.Menu()); !slices.Equal(got, want) {
		t.Errorf("menu = %q, want %q", got, want)
	}
	if !h.item(t, "Quit").IsQuit {
		t.Error("Quit is not marked as the quit item")
	}
	if !h.item(t, "No knock yet").Disabled {
		t.Error("the status line can be clicked")
	}
	if got := h.icon(); got != "tray-idle.png" {
		t.Errorf("icon = %q, want tray-idle.png", got)
	}
}

func TestMenuWithoutProfiles(t *testing.T) {
	a := test.NewTempApp(t)
	tr := NewTray(a, newFake(), Options{})
	h := &fakeHost{}
	tr.Show(h, nil)
	it := h.item(t, "No profiles yet")
	if !it.Disabled {
		t.Error("the placeholder can be clicked")
	}
	h.item(t, "Manage profiles…")
}

// Clicking "Knock & Connect" shows every step in the status line and the
// working icon while it runs; when the VPN command is up: the ok icon, the
// time, a notification, and "Disconnect", which stops it.
func TestKnockAndConnectShowsEveryStatus(t *testing.T) {
	tr, b, h, n := newTestTray(t)

	h.item(t, "Knock & Connect: office").Action()
	if r := <-b.started; r.name != "office" || !r.connect {
		t.Fatalf("backend got %+v, want Connect(office)", r)
	}
	assertState(t, tr, h, Working, "office: Knock & Connect…", "tray-working.png")
	if !h.item(t, "Knock & Connect: office").Disabled || !h.item(t, "Knock only: office").Disabled {
		t.Error("the profile's items stay clickable while it knocks")
	}
	if tr.Start("office", ModeKnock, nil) {
		t.Error("a second run of the same profile started")
	}

	steps := []Step{
		{Title: "Knocking", Detail: "sending 4 datagrams to 10.77.1.1", State: StepRunning},
		{Title: "Checking", Detail: "waiting for tcp/22", State: StepRunning},
		{Title: "Connected", Detail: "tcp/22 on 10.77.1.1 answered", State: StepOK},
	}
	for _, s := range steps {
		b.feed(t, s)
		assertState(t, tr, h, Working, "office: "+s.String(), "tray-working.png")
	}
	if len(n.all()) != 0 {
		t.Errorf("notified before the end: %v", n.all())
	}

	b.feed(t, Step{Title: "Launched", Detail: "started wg-quick up office", State: StepOK, Up: true})
	assertState(t, tr, h, OK, "office connected at 15:04:05", "tray-ok.png")
	got := n.all()
	if len(got) != 1 || got[0].Title != "hyp: office connected" || got[0].Content != "✓ Launched: started wg-quick up office" {
		t.Errorf("notifications = %+v, want one: office connected", got)
	}
	// Keep-alive knocks while up leave the status alone.
	b.feed(t, Step{Title: "Keep-alive", Detail: "knocked", State: StepOK})
	assertState(t, tr, h, OK, "office connected at 15:04:05", "tray-ok.png")

	h.item(t, "Disconnect: office").Action()
	tr.Wait()
	assertState(t, tr, h, Idle, "Last: office disconnected at 15:04:05", "tray-idle.png")
	h.item(t, "Knock & Connect: office")
	got = n.all()
	if len(got) != 2 || got[1].Title != "hyp: office disconnected" {
		t.Errorf("notifications = %+v, want connected then disconnected", got)
	}
	if r, ok := tr.Last(); !ok || !errors.Is(r.Err, context.Canceled) || !r.WasUp || r.Mode != ModeConnect || !r.At.Equal(testTime) {
		t.Errorf("last result = %+v, %v", r, ok)
	}
	h.mu.Lock()
	icons := slices.Clone(h.icons)
	h.mu.Unlock()
	if !slices.Equal(icons, []string{"tray-idle.png", "tray-working.png", "tray-ok.png", "tray-idle.png"}) {
		t.Errorf("icons went %q", icons)
	}
}

// A launcher that exits by itself ("wg-quick up") leaves the tunnel up: the
// result is "connected", said once.
func TestLauncherExitStaysConnected(t *testing.T) {
	tr, b, h, n := newTestTray(t)
	h.item(t, "Knock & Connect: office").Action()
	<-b.started
	b.feed(t, Step{Title: "Launched", Detail: "started wg-quick up office", State: StepOK, Up: true})
	b.feed(t, Step{Title: "Exited", Detail: "wg-quick exited with status 0", State: StepOK})
	b.end(t, nil)
	tr.Wait()
	assertState(t, tr, h, OK, "Last: office connected at 15:04:05", "tray-ok.png")
	if got := n.all(); len(got) != 1 || got[0].Title != "hyp: office connected" {
		t.Errorf("notifications = %+v, want only connected", got)
	}
}

func TestKnockOnlyFailureShowsFailed(t *testing.T) {
	tr, b, h, n := newTestTray(t)
	h.item(t, "Knock only: office").Action()
	if r := <-b.started; r.connect {
		t.Fatal("Knock only ran Connect")
	}
	b.feed(t, Step{Title: "Check tcp/22", Detail: "no answer after 10s", State: StepFailed})
	assertState(t, tr, h, Working, "office: ✗ Check tcp/22: no answer after 10s", "tray-working.png")
	b.end(t, errors.New("check tcp/22: no answer after 10s"))
	tr.Wait()
	assertState(t, tr, h, Failed, "Last: office failed at 15:04:05: check tcp/22: no answer after 10s", "tray-failed.png")
	got := n.all()
	if len(got) != 1 || got[0].Title != "hyp: office failed" || got[0].Content != "check tcp/22: no answer after 10s" {
		t.Errorf("notifications = %+v", got)
	}

	// A later success turns the icon back to ok.
	h.item(t, "Knock only: office").Action()
	<-b.started
	b.feed(t, Step{Title: "Connected", Detail: "tcp/22 answered", State: StepOK})
	b.end(t, nil)
	tr.Wait()
	assertState(t, tr, h, OK, "Last: office knocked at 15:04:05", "tray-ok.png")
	if got := n.all(); len(got) != 2 || got[1].Title != "hyp: office knocked" || got[1].Content != "✓ Connected: tcp/22 answered" {
		t.Errorf("notifications = %+v", got)
	}
}

// Quit cancels a run in progress and sends no notification for it.
func TestQuitCancelsRuns(t *testing.T) {
	tr, b, h, n := newTestTray(t)
	h.item(t, "Knock & Connect: office").Action()
	<-b.started
	h.item(t, "Quit").Action()
	tr.Wait()
	// fyne.Do(app.Quit) comes from a goroutine after the runs end.
	if got := n.all(); len(got) != 0 {
		t.Errorf("notified after Quit: %+v", got)
	}
	if r, _ := tr.Last(); !errors.Is(r.Err, context.Canceled) {
		t.Errorf("last result after Quit = %v, want cancelled", r.Err)
	}
}

// Without a tray host the window opens instead, says why once, and is the
// master window (closing it quits).
func TestNoTrayOpensWindow(t *testing.T) {
	a := test.NewTempApp(t)
	tr := NewTray(a, newFake(), Options{})
	before := len(a.Driver().AllWindows())
	tr.Show(nil, errors.New("this desktop has no system tray"))
	w := tr.ShowWindow()
	if !w.notice.Visible() || !strings.Contains(w.notice.Text, "because this desktop has no system tray") {
		t.Errorf("notice = %q (visible %v)", w.notice.Text, w.notice.Visible())
	}
	if n := len(a.Driver().AllWindows()) - before; n != 1 {
		t.Errorf("%d windows opened, want 1", n)
	}
	if tr.Menu() == nil {
		t.Error("no menu built: the window's knocks still need the runner")
	}
}

func assertState(t *testing.T, tr *Tray, h *fakeHost, state State, status, icon string) {
	t.Helper()
	s, line := tr.State()
	if s != state || line != status {
		t.Errorf("state = %v %q, want %v %q", s, line, state, status)
	}
	h.item(t, status)
	if got := h.icon(); got != icon {
		t.Errorf("icon = %q, want %q", got, icon)
	}
}
