package sysservice

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	kardianos "github.com/kardianos/service"

	"github.com/hideyourports/hyp/daemon/config"
)

// fakeService records the calls Manager makes and answers Status like systemd would.
type fakeService struct {
	mu        sync.Mutex // guards every field
	installed bool
	running   bool
	failed    bool
	calls     []string
}

func (f *fakeService) call(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	switch name {
	case "install":
		f.installed = true
	case "uninstall":
		f.installed = false
	case "start", "restart":
		f.running = true
	case "stop":
		f.running = false
	}
}

func (f *fakeService) Calls() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, ",")
}

func (f *fakeService) Run() error       { return errors.New("not for tests") }
func (f *fakeService) Start() error     { f.call("start"); return nil }
func (f *fakeService) Stop() error      { f.call("stop"); return nil }
func (f *fakeService) Restart() error   { f.call("restart"); return nil }
func (f *fakeService) Install() error   { f.call("install"); return nil }
func (f *fakeService) Uninstall() error { f.call("uninstall"); return nil }
func (f *fakeService) Logger(chan<- error) (kardianos.Logger, error) {
	return nil, errors.New("not for tests")
}
func (f *fakeService) SystemLogger(chan<- error) (kardianos.Logger, error) {
	return nil, errors.New("not for tests")
}
func (f *fakeService) String() string   { return Name }
func (f *fakeService) Platform() string { return "fake-systemd" }
func (f *fakeService) Status() (kardianos.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.installed:
		return kardianos.StatusUnknown, kardianos.ErrNotInstalled
	case f.failed:
		return kardianos.StatusUnknown, errors.New("service in failed state")
	case f.running:
		return kardianos.StatusRunning, nil
	}
	return kardianos.StatusStopped, nil
}

type fixture struct {
	m       *Manager
	svc     *fakeService
	out     *bytes.Buffer
	cleaned int
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{svc: &fakeService{}, out: &bytes.Buffer{}}
	f.m = &Manager{
		Service:    f.svc,
		Root:       t.TempDir(),
		ConfigPath: DefaultConfig,
		Executable: PackagedExecutable,
		Out:        f.out,
		Cleanup:    func() error { f.cleaned++; return nil },
		Ping:       func(context.Context) (string, error) { return "1 key(s)", nil },
		StartWait:  time.Second,
	}
	return f
}

func (f *fixture) write(t *testing.T, path, text string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(f.m.Root, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), mode); err != nil {
		t.Fatal(err)
	}
}

func TestInstallWritesDefaultsAndEnables(t *testing.T) {
	f := newFixture(t)
	if err := f.m.Install(); err != nil {
		t.Fatal(err)
	}
	if f.svc.Calls() != "install" {
		t.Fatalf("service calls = %q, want install only (installing must not start anything)", f.svc.Calls())
	}
	got, err := os.ReadFile(filepath.Join(f.m.Root, DefaultConfig))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != config.DefaultTOML() {
		t.Error("the written config is not the commented default")
	}
	fi, err := os.Stat(filepath.Join(f.m.Root, config.DefaultKeysDir))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 || !fi.IsDir() {
		t.Errorf("keys dir mode = %v, want drwx------", fi.Mode())
	}
	for _, want := range []string{"not started", "hypd secret new", "hypd start", "interfaces"} {
		if !strings.Contains(f.out.String(), want) {
			t.Errorf("install output lacks %q:\n%s", want, f.out)
		}
	}

	// A second install refuses instead of clobbering.
	if err := f.m.Install(); err == nil || !strings.Contains(err.Error(), "already installed") {
		t.Fatalf("second install: err = %v", err)
	}
}

func TestInstallKeepsExistingConfig(t *testing.T) {
	f := newFixture(t)
	mine := "interfaces = [\"eth0\"]\nservices = [\"tcp/22\"]\n"
	f.write(t, DefaultConfig, mine, 0o644)
	if err := f.m.Install(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(f.m.Root, DefaultConfig))
	if string(got) != mine {
		t.Fatalf("install rewrote an existing config: %q", got)
	}
	if strings.Contains(f.out.String(), "set interfaces") {
		t.Errorf("install asks for interfaces the config already has:\n%s", f.out)
	}
}

func TestInstallRefuses(t *testing.T) {
	t.Run("bad config", func(t *testing.T) {
		f := newFixture(t)
		f.write(t, DefaultConfig, "interfaces = 3\n", 0o644)
		err := f.m.Install()
		if err == nil || !strings.Contains(err.Error(), "interfaces") {
			t.Fatalf("err = %v, want one naming the bad field", err)
		}
		if f.svc.Calls() != "" {
			t.Fatalf("service calls = %q after a bad config", f.svc.Calls())
		}
	})
	t.Run("config in /home", func(t *testing.T) {
		f := newFixture(t)
		f.m.ConfigPath = "/home/admin/hypd.toml"
		if err := f.m.Install(); err == nil || !strings.Contains(err.Error(), "ProtectHome") {
			t.Fatalf("err = %v, want ProtectHome explained", err)
		}
	})
	t.Run("keys in /root", func(t *testing.T) {
		f := newFixture(t)
		f.write(t, DefaultConfig, "keys_dir = \"/root/keys\"\n", 0o644)
		if err := f.m.Install(); err == nil || !strings.Contains(err.Error(), "keys_dir") {
			t.Fatalf("err = %v, want keys_dir named", err)
		}
	})
	t.Run("packaged unit", func(t *testing.T) {
		f := newFixture(t)
		f.write(t, PackagedUnitPaths()[0], "[Unit]\n", 0o644)
		if err := f.m.Install(); err != nil {
			t.Fatal(err)
		}
		if f.svc.Calls() != "" || !strings.Contains(f.out.String(), "systemctl enable --now hypd") {
			t.Fatalf("calls %q, output %q: want no install and the systemctl hint", f.svc.Calls(), f.out)
		}
		if err := f.m.Uninstall(true); err == nil || !strings.Contains(err.Error(), "package") {
			t.Fatalf("uninstall of a packaged unit: err = %v", err)
		}
		if f.cleaned != 0 {
			t.Fatal("uninstall of a packaged unit deleted the table")
		}
	})
}

func TestInstallCopiesAnInvisibleExecutable(t *testing.T) {
	f := newFixture(t)
	src := filepath.Join(t.TempDir(), "hypd")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	f.m.Source, f.m.Executable = src, "/usr/local/sbin/hypd"
	if err := f.m.Install(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(f.m.Root, "/usr/local/sbin/hypd"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("copied hypd mode = %v, want 0755", fi.Mode())
	}
}

func TestUninstallKeepsTableUnlessPurge(t *testing.T) {
	f := newFixture(t)
	f.write(t, DefaultConfig, "interfaces = [\"eth0\"]\n", 0o644)
	f.write(t, "/var/lib/hyp/spent.json", "{}", 0o600)
	if err := f.m.Install(); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := f.m.Uninstall(false); err != nil {
		t.Fatal(err)
	}
	if got := f.svc.Calls(); got != "install,start,stop,uninstall" {
		t.Fatalf("calls = %q", got)
	}
	if f.cleaned != 0 {
		t.Fatal("uninstall without --purge deleted the table")
	}
	if !strings.Contains(f.out.String(), "remain hidden") {
		t.Errorf("uninstall does not say services stay hidden:\n%s", f.out)
	}
	if err := f.m.Uninstall(false); err == nil {
		t.Fatal("uninstall of a service that is not installed succeeded")
	}

	// --purge on an uninstalled service still cleans up what is left.
	if err := f.m.Uninstall(true); err != nil {
		t.Fatal(err)
	}
	if f.cleaned != 1 {
		t.Fatalf("table deleted %d times, want 1", f.cleaned)
	}
	if _, err := os.Stat(filepath.Join(f.m.Root, "/var/lib/hyp/spent.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("purge left the spent state: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.m.Root, DefaultConfig)); err != nil {
		t.Errorf("purge deleted the config: %v", err)
	}
}

func TestStartChecksConfigFirst(t *testing.T) {
	f := newFixture(t)
	if err := f.m.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "not installed") {
		t.Fatalf("start before install: err = %v", err)
	}
	if err := f.m.Install(); err != nil { // default config: no interfaces
		t.Fatal(err)
	}
	err := f.m.Start(context.Background())
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no interfaces") {
		t.Fatalf("start with no interfaces: err = %v, want a ConfigError", err)
	}
	if strings.Contains(f.svc.Calls(), "start") {
		t.Fatal("the service was started with a config that cannot run")
	}
}

func TestStartWaitsForTheControlSocket(t *testing.T) {
	f := newFixture(t)
	f.write(t, DefaultConfig, "interfaces = [\"eth0\"]\n", 0o644)
	if err := f.m.Install(); err != nil {
		t.Fatal(err)
	}
	pings := 0
	f.m.Ping = func(context.Context) (string, error) {
		if pings++; pings < 3 {
			return "", errors.New("no socket yet")
		}
		return "2 key(s)", nil
	}
	if err := f.m.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if pings != 3 || !strings.Contains(f.out.String(), "started hypd: 2 key(s)") {
		t.Fatalf("pings %d, output %q", pings, f.out)
	}

	// A unit that fails after starting is reported at once, with where to look.
	f.m.Ping = func(context.Context) (string, error) { return "", errors.New("no socket") }
	f.svc.mu.Lock()
	f.svc.failed = true
	f.svc.mu.Unlock()
	err := f.m.Restart(context.Background())
	if err == nil || !strings.Contains(err.Error(), "journalctl -u hypd") {
		t.Fatalf("restart into a failing unit: err = %v", err)
	}
	f.svc.mu.Lock()
	f.svc.failed = false
	f.svc.mu.Unlock()

	// One that never answers gives up after StartWait.
	f.m.StartWait = 200 * time.Millisecond
	if err := f.m.Restart(context.Background()); err == nil || !strings.Contains(err.Error(), "did not answer") {
		t.Fatalf("restart of a silent hypd: err = %v", err)
	}
}

func TestStateLine(t *testing.T) {
	f := newFixture(t)
	if got := f.m.StateLine(); got != "service hypd (fake-systemd): not installed" {
		t.Errorf("StateLine = %q", got)
	}
	f.svc.call("install")
	f.write(t, UnitPath, "[Unit]\n", 0o644)
	if got := f.m.StateLine(); got != "service hypd (fake-systemd, "+UnitPath+"): stopped" {
		t.Errorf("StateLine = %q", got)
	}
	f.svc.call("start")
	if got := f.m.State(); got != "running" {
		t.Errorf("State = %q", got)
	}
	if err := f.m.Stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(f.out.String(), "stay hidden") {
		t.Errorf("stop does not say services stay hidden: %q", f.out)
	}
}

// Issue 21 item 2: a service manager that cannot tell says so, not only "exit status 1".
func TestStateOfAManagerThatCannotTell(t *testing.T) {
	f := newFixture(t)
	f.svc.call("install")
	f.svc.mu.Lock()
	f.svc.failed = true
	f.svc.mu.Unlock()
	if got := f.m.State(); !strings.HasPrefix(got, "unknown (fake-systemd cannot tell: ") {
		t.Errorf("State = %q", got)
	}
}
