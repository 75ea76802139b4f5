package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
)

// fakeBackend stores profiles in memory and runs knocks from a script the
// test feeds step by step, so the test sees the UI between any two steps.
type fakeBackend struct {
	// mu guards profiles, secrets, calls.
	mu       sync.Mutex
	profiles map[string]Profile
	secrets  map[string]psk.Key
	calls    []string

	script    chan scripted      // what the running knock reports next
	delivered chan struct{}      // one value after each reported step is handled
	started   chan startedRun    // one value when a run starts
	nameErr   func(string) error // ValidName; nil accepts anything non-empty
}

type scripted struct {
	step Step
	end  bool
	err  error
}

type startedRun struct {
	name    string
	connect bool
}

func newFake() *fakeBackend {
	return &fakeBackend{
		profiles:  map[string]Profile{},
		secrets:   map[string]psk.Key{},
		script:    make(chan scripted),
		delivered: make(chan struct{}),
		started:   make(chan startedRun, 4),
	}
}

func (f *fakeBackend) Profiles() ([]Profile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ps []Profile
	for _, p := range f.profiles {
		_, p.HasSecret = f.secrets[p.Name]
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].Name < ps[j].Name })
	return ps, nil
}

func (f *fakeBackend) ValidName(name string) error {
	if f.nameErr != nil {
		return f.nameErr(name)
	}
	if name == "" {
		return errors.New("a profile needs a name")
	}
	return nil
}

func (f *fakeBackend) Save(previous string, p Profile, key psk.Key) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "save "+previous+" -> "+p.Name)
	if key.IsZero() {
		old, ok := f.secrets[previous]
		if !ok {
			return errors.New("no secret stored")
		}
		key = old
	}
	if previous != "" && previous != p.Name {
		delete(f.profiles, previous)
		delete(f.secrets, previous)
	}
	p.HasSecret = false
	p.Command = slices.Clone(p.Command)
	f.profiles[p.Name] = p
	f.secrets[p.Name] = key
	return nil
}

func (f *fakeBackend) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.profiles[name]; !ok {
		return fmt.Errorf("no profile %q", name)
	}
	delete(f.profiles, name)
	delete(f.secrets, name)
	return nil
}

func (f *fakeBackend) URI(name string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.profiles[name]
	if !ok {
		return "", fmt.Errorf("no profile %q", name)
	}
	return profile.Profile{Name: p.Name, Host: p.Host, Key: f.secrets[name], Params: p.Params, CheckPort: p.CheckPort}.URI(), nil
}

func (f *fakeBackend) secret(name string) psk.Key {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.secrets[name]
}

func (f *fakeBackend) profile(name string) (Profile, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.profiles[name]
	return p, ok
}

func (f *fakeBackend) Connect(ctx context.Context, name string, progress func(Step)) error {
	return f.run(ctx, name, true, progress)
}

func (f *fakeBackend) Knock(ctx context.Context, name string, progress func(Step)) error {
	return f.run(ctx, name, false, progress)
}

func (f *fakeBackend) run(ctx context.Context, name string, connect bool, progress func(Step)) error {
	f.started <- startedRun{name, connect}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-f.script:
			if s.end {
				return s.err
			}
			progress(s.step)
			f.delivered <- struct{}{}
		}
	}
}

// feed makes the running knock report a step and waits until the UI has it.
func (f *fakeBackend) feed(t *testing.T, s Step) {
	t.Helper()
	select {
	case f.script <- scripted{step: s}:
	case <-time.After(5 * time.Second):
		t.Fatalf("no knock is running to report %v", s)
	}
	<-f.delivered
}

// end ends the running knock with err.
func (f *fakeBackend) end(t *testing.T, err error) {
	t.Helper()
	select {
	case f.script <- scripted{end: true, err: err}:
	case <-time.After(5 * time.Second):
		t.Fatalf("no knock is running to end")
	}
}

// fakeHost is a tray host that keeps what it was given.
type fakeHost struct {
	// mu guards menu and icons.
	mu    sync.Mutex
	menu  *fyne.Menu
	icons []string
}

func (h *fakeHost) SetSystemTrayMenu(m *fyne.Menu) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.menu = m
}

func (h *fakeHost) SetSystemTrayIcon(r fyne.Resource) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.icons); n == 0 || h.icons[n-1] != r.Name() {
		h.icons = append(h.icons, r.Name())
	}
}

func (h *fakeHost) icon() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.icons) == 0 {
		return ""
	}
	return h.icons[len(h.icons)-1]
}

// item finds a menu item by its label.
func (h *fakeHost) item(t *testing.T, label string) *fyne.MenuItem {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.menu == nil {
		t.Fatal("no tray menu was set")
	}
	for _, it := range h.menu.Items {
		if it.Label == label {
			return it
		}
	}
	t.Fatalf("no menu item %q in %v", label, labels(h.menu))
	return nil
}

func labels(m *fyne.Menu) []string {
	var ls []string
	for _, it := range m.Items {
		if it.IsSeparator {
			ls = append(ls, "---")
		} else {
			ls = append(ls, it.Label)
		}
	}
	return ls
}

// notes records notifications.
type notes struct {
	// mu guards list.
	mu   sync.Mutex
	list []fyne.Notification
}

func (n *notes) notify(x *fyne.Notification) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, *x)
}

func (n *notes) all() []fyne.Notification {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.list)
}
