package corebackend

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

type fakeKnocker struct {
	// mu guards hosts.
	mu    sync.Mutex
	hosts []string
}

func (f *fakeKnocker) Knock(_ context.Context, p profiles.Profile, _ time.Time, _ uint32) (knock.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts = append(f.hosts, p.Host)
	return knock.Result{Target: netip.MustParseAddr("10.77.5.1"), Ports: []uint16{1, 2, 3, 4}}, nil
}

type openChecker struct{}

func (openChecker) Check(context.Context, string, uint16) error { return nil }

type fakeLauncher struct {
	// mu guards argv.
	mu   sync.Mutex
	argv [][]string
}

type exited struct{}

func (exited) Wait() error { return nil }

func (f *fakeLauncher) Start(_ context.Context, argv []string) (connect.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.argv = append(f.argv, slices.Clone(argv))
	return exited{}, nil
}

func newBackend(t *testing.T) (*Backend, *fakeKnocker, *fakeLauncher) {
	t.Helper()
	store, err := profiles.Open(profiles.Options{Dir: t.TempDir(), Secrets: profiles.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	k, l := &fakeKnocker{}, &fakeLauncher{}
	return New(store, &connect.Connector{Knocker: k, Checker: openChecker{}, Launcher: l, State: &knockstate.Memory{}}), k, l
}

func office() ui.Profile {
	return ui.Profile{Name: "office", Host: "10.77.5.1", Params: sequence.Defaults(), CheckPort: 22,
		Command: []string{"/usr/bin/stand-in-vpn", "up"}}
}

func TestSaveListRenameRemove(t *testing.T) {
	b, _, _ := newBackend(t)
	key, _ := psk.Generate()
	if err := b.Save("", office(), psk.Key{}); err == nil {
		t.Error("a new profile without a secret was saved")
	}
	if err := b.Save("", office(), key); err != nil {
		t.Fatal(err)
	}
	if err := b.Save("", office(), key); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Errorf("saving a second office: %v", err)
	}
	ps, err := b.Profiles()
	if err != nil {
		t.Fatal(err)
	}
	want := office()
	want.HasSecret = true
	if len(ps) != 1 || !equal(ps[0], want) {
		t.Fatalf("Profiles = %+v, want %+v", ps, want)
	}

	// Rename without typing the secret again: it moves along.
	renamed := office()
	renamed.Name, renamed.Host = "hq", "gw.example"
	if err := b.Save("office", renamed, psk.Key{}); err != nil {
		t.Fatal(err)
	}
	ps, _ = b.Profiles()
	if len(ps) != 1 || ps[0].Name != "hq" || ps[0].Host != "gw.example" {
		t.Fatalf("after rename: %+v", ps)
	}
	uri, err := b.URI("hq")
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := profile.Parse(uri)
	if err != nil || !p.Key.Equal(key) || p.Host != "gw.example" || p.CheckPort != 22 {
		t.Errorf("URI of hq: %v (key kept %v)", err, p.Key.Equal(key))
	}
	if err := b.Remove("hq"); err != nil {
		t.Fatal(err)
	}
	if ps, _ := b.Profiles(); len(ps) != 0 {
		t.Errorf("after remove: %+v", ps)
	}
	if err := b.ValidName("no spaces"); err == nil {
		t.Error("ValidName accepts a space")
	}
}

func TestConnectReportsStepsAndUp(t *testing.T) {
	b, k, l := newBackend(t)
	key, _ := psk.Generate()
	if err := b.Save("", office(), key); err != nil {
		t.Fatal(err)
	}
	var steps []ui.Step
	if err := b.Connect(context.Background(), "office", func(s ui.Step) { steps = append(steps, s) }); err != nil {
		t.Fatal(err)
	}
	var titles []string
	up := 0
	for _, s := range steps {
		titles = append(titles, s.Title)
		if s.Up {
			up++
			if s.Title != "Launched" {
				t.Errorf("up at %q", s.Title)
			}
		}
		if s.State == ui.StepFailed {
			t.Errorf("failed step %v", s)
		}
	}
	if up != 1 || !slices.Contains(titles, "Knocking") || !slices.Contains(titles, "Connected") {
		t.Errorf("steps %q, %d up", titles, up)
	}
	if len(l.argv) != 1 || !slices.Equal(l.argv[0], []string{"/usr/bin/stand-in-vpn", "up"}) {
		t.Errorf("launched %q", l.argv)
	}

	steps = nil
	if err := b.Knock(context.Background(), "office", func(s ui.Step) { steps = append(steps, s) }); err != nil {
		t.Fatal(err)
	}
	if len(l.argv) != 1 {
		t.Error("Knock only started the VPN command")
	}
	if len(k.hosts) < 2 {
		t.Errorf("knocked %q", k.hosts)
	}
	if err := b.Connect(context.Background(), "nobody", func(ui.Step) {}); !errors.Is(err, profiles.ErrNotFound) {
		t.Errorf("Connect(nobody) = %v", err)
	}
}

func TestStepStates(t *testing.T) {
	p := profiles.Profile{KeepAlive: time.Minute}
	for _, c := range []struct {
		kind  connect.StepKind
		err   error
		state ui.StepState
		up    bool
	}{
		{connect.Knocking, nil, ui.StepRunning, false},
		{connect.Checking, nil, ui.StepRunning, false},
		{connect.Connected, nil, ui.StepOK, true}, // keep-alive without a command: up once open
		{connect.KeepAlive, errors.New("x"), ui.StepFailed, false},
		{connect.Failed, errors.New("x"), ui.StepFailed, false},
		{connect.Stopped, nil, ui.StepOK, false},
	} {
		s := uiStep(p, connect.Step{Kind: c.kind, Message: "m", Err: c.err})
		if s.State != c.state || s.Up != c.up || s.Detail != "m" {
			t.Errorf("%v: %+v", c.kind, s)
		}
	}
}

func equal(a, b ui.Profile) bool {
	return a.Name == b.Name && a.Host == b.Host && a.Params == b.Params && a.CheckPort == b.CheckPort &&
		slices.Equal(a.Command, b.Command) && a.HasSecret == b.HasSecret
}
