package ui

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// fakeService is a HelperBackend whose helper answers what the test sets.
type fakeService struct {
	*fakeBackend
	mu      sync.Mutex // guards list, listErr, handErr, handed
	list    []HelperProfile
	listErr error
	handErr error
	handed  []string
	running bool // a hand-over adds the profile to list, as a running helper does
}

func (f *fakeService) HelperProfiles(context.Context) ([]HelperProfile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.list), f.listErr
}

func (f *fakeService) HelperConnect(_ context.Context, name string, progress func(Step)) error {
	progress(Step{Title: "Helper: connected", Detail: name + " is up", State: StepOK})
	return nil
}

func (f *fakeService) RunAsService(_ context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.handErr != nil {
		return f.handErr
	}
	f.handed = append(f.handed, name)
	if f.running {
		f.list = append(f.list, HelperProfile{Name: name, Host: "10.77.1.1"})
	}
	return nil
}

func newServiceTray(t *testing.T, fs *fakeService) (*Tray, *fakeHost, *notes) {
	t.Helper()
	k, _ := psk.Generate()
	if err := fs.Save("", Profile{Name: "home", Host: "10.77.1.1", Params: sequence.Defaults()}, k); err != nil {
		t.Fatal(err)
	}
	n := &notes{}
	tr := NewTray(test.NewTempApp(t), fs, Options{Now: func() time.Time { return testTime }, Notify: n.notify, ServicePoll: time.Hour})
	h := &fakeHost{}
	tr.Show(h, nil)
	t.Cleanup(func() { tr.cancel(); tr.Wait() })
	return tr, h, n
}

// The helper's profiles get their own rows with their state; one that is
// refused shows why, in place of them.
func TestServiceRows(t *testing.T) {
	knocked := time.Date(2026, 3, 1, 15, 0, 0, 0, time.Local)
	fs := &fakeService{fakeBackend: newFake(), list: []HelperProfile{
		{Name: "office", Host: "10.77.1.2", Connected: true, LastKnock: knocked},
		{Name: "lab", Host: "10.77.1.3", LastError: "no answer from tcp/22"},
	}}
	tr, h, n := newServiceTray(t, fs)
	tr.RefreshService()
	want := []string{"Knock & Connect: home", "Knock only: home",
		"Knock & Connect: office (service)", "    up, knocked 15:00:00",
		"Knock & Connect: lab (service)", "    down: no answer from tcp/22",
		"---", "Manage profiles…", "---", "No knock yet", "---", "Quit"}
	if got := labels(tr.Menu()); !slices.Equal(got, want) {
		t.Fatalf("menu = %q\nwant %q", got, want)
	}
	if !h.item(t, "    up, knocked 15:00:00").Disabled {
		t.Error("a state line can be clicked")
	}

	h.item(t, "Knock & Connect: office (service)").Action()
	if ns := waitNotes(t, n, 1); len(ns) != 1 || ns[0].Title != "hyp: office (service) connected" {
		t.Fatalf("notifications %+v", ns)
	}
	if r, ok := tr.Last(); !ok || r.Err != nil || r.Profile != "office (service)" {
		t.Fatalf("result %+v %v", r, ok)
	}
	fs.fakeBackend.mu.Lock()
	calls := slices.Clone(fs.calls)
	fs.fakeBackend.mu.Unlock()
	if slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, "office") }) {
		t.Errorf("the user's backend was asked to run a helper profile: %v", calls)
	}

	fs.mu.Lock()
	fs.list, fs.listErr = nil, errors.New("not allowed by the helper service: /run/hyp-helper.sock does not admit you")
	fs.mu.Unlock()
	tr.RefreshService()
	if got := labels(tr.Menu()); !slices.Contains(got, "not allowed by the helper service: /run/hyp-helper.sock does not admit you") || slices.Contains(got, "Knock & Connect: office (service)") {
		t.Fatalf("refused: menu = %q", got)
	}
	fs.mu.Lock()
	fs.listErr = ErrNoService
	fs.mu.Unlock()
	tr.RefreshService()
	if got := labels(tr.Menu()); len(got) != 8 {
		t.Fatalf("without a helper the menu is the user's alone: %q", got)
	}
}

// Run as a service… from the window: a refusal, a helper that takes the
// profile at once, and no helper running (the profile waits in its store).
func TestRunAsServiceOutcomes(t *testing.T) {
	for _, c := range []struct {
		name      string
		handErr   error
		running   bool
		wantStep  string
		wantTitle string
	}{
		{"refused", errors.New("not authorised: nothing was handed over"), false, "✗ Run as a service: handing home to the helper service: not authorised", "hyp: home not handed over"},
		{"running helper", nil, true, `✓ Run as a service: home runs as a service now: the tray lists it as "home (service)"`, "hyp: home runs as a service"},
		{"no helper", nil, false, "✓ Run as a service: home is in the helper's store; the helper service is not running", "hyp: home handed to the helper service"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs := &fakeService{fakeBackend: newFake(), handErr: c.handErr}
			fs.running = c.running
			tr, _, n := newServiceTray(t, fs)
			w := tr.ShowWindow()
			if w.asService == nil || w.asService.Disabled() {
				t.Fatal("no enabled Run as a service… for a saved profile")
			}
			test.Tap(w.asService)
			if ns := waitNotes(t, n, 1); len(ns) != 1 || ns[0].Title != c.wantTitle {
				t.Errorf("notifications %+v, want %q", ns, c.wantTitle)
			}
			// The step list is written by the hand-over's goroutine (the
			// test driver runs fyne.Do there): read it once that has ended.
			tr.cancel()
			tr.Wait()
			if !strings.Contains(w.StepsText(), c.wantStep) {
				t.Errorf("steps %q, want %q", w.StepsText(), c.wantStep)
			}
		})
	}
}

// waitNotes waits until n has count notifications.
func waitNotes(t *testing.T, n *notes, count int) []fyne.Notification {
	t.Helper()
	if !waitfor.Until(10*time.Second, func() bool { return len(n.all()) >= count }) {
		t.Fatalf("%d notification(s) after 10s, want %d: %+v", len(n.all()), count, n.all())
	}
	return n.all()
}
