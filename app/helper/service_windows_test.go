package helper

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"

	"github.com/hideyourports/hyp/internal/servicerun"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestMain doubles as the service TestServiceLife installs: started by the service control
// manager with the installed command line (helper run --service --name NAME --dir DIR), it
// runs a stand-in helper that is up at once and runs until stopped, or, for a DIR ending in
// "-fails", fails before it is up.
func TestMain(m *testing.M) {
	if len(os.Args) > 5 && os.Args[1] == "helper" && os.Args[2] == "run" && os.Args[3] == "--"+ServiceFlag && os.Args[4] == "--name" {
		fails := strings.HasSuffix(os.Args[len(os.Args)-1], "-fails") // --dir DIR-fails
		err := servicerun.Run(context.Background(), os.Args[5], true, func(ctx context.Context, ready func()) error {
			if fails {
				return errors.New("stand-in helper failing as it starts")
			}
			ready()
			<-ctx.Done()
			return nil
		})
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestServiceLife drives a service through the service control manager (wine's, in CI):
// install (registered, stopped), start (running once up), stop, start again, and uninstall of the
// running service, which stops it before deleting it.
func TestServiceLife(t *testing.T) {
	var notes []string
	note := func(s string) { notes = append(notes, s) }
	cfg := testService(t, "hyp-helper-test", "helper")
	want := func(text string) {
		t.Helper()
		st, err := status(cfg)
		if err != nil || st.Text != text || st.Running != (text == "running") {
			t.Fatalf("status = %+v, %v; want %q", st, err, text)
		}
	}
	if err := control(cfg, "install", note); err != nil {
		t.Fatalf("install: %v", err)
	}
	t.Logf("install notes: %q", notes)
	if err := control(cfg, "install", note); err == nil || !strings.Contains(err.Error(), "already installed") {
		t.Fatalf("second install: %v", err)
	}
	want("stopped")
	for _, step := range []struct{ action, state string }{{"start", "running"}, {"stop", "stopped"}, {"start", "running"}} {
		if err := control(cfg, step.action, note); err != nil {
			t.Fatalf("%s: %v", step.action, err)
		}
		want(step.state)
	}
	pid := servicePID(t, cfg.name())
	if err := control(cfg, "uninstall", note); err != nil {
		t.Fatalf("uninstall of the running service: %v", err)
	}
	// Stopped first: the service's process has exited, not merely lost its registration.
	if h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, pid); err == nil {
		ev, _ := windows.WaitForSingleObject(h, 0)
		windows.CloseHandle(h)
		if ev != windows.WAIT_OBJECT_0 {
			t.Fatalf("the service's process %d still runs after uninstall", pid)
		}
	}
	if _, err := status(cfg); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("status after uninstall: %v, want not installed", err)
	}
}

// TestDescribe: status in words, a service that never ran is plainly stopped, and one that
// stopped with an error says why, from the last words in its log.
func TestDescribe(t *testing.T) {
	dir := tempDir(t)
	cfg := Config{Dir: filepath.Join(dir, "helper")}
	log := "hyp-helper: 2026/01/02 03:04:05 keeping 1 profile(s) alive\n" +
		"hyp-helper: 2026/01/02 03:04:06 helper stopped: the helper store holds no profiles\n"
	if err := os.WriteFile(logPath(cfg), []byte(log), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		st   svc.Status
		want string
	}{
		{svc.Status{State: svc.Running}, "running"},
		{svc.Status{State: svc.StartPending}, "starting"},
		{svc.Status{State: svc.Stopped}, "stopped"},
		{svc.Status{State: svc.Stopped, Win32ExitCode: uint32(windows.ERROR_SERVICE_NEVER_STARTED)}, "stopped"},
		{svc.Status{State: svc.Stopped, Win32ExitCode: uint32(windows.ERROR_SERVICE_SPECIFIC_ERROR), ServiceSpecificExitCode: 1},
			"stopped with an error (helper exit code 1): the helper store holds no profiles"},
	} {
		if got := describe(tc.st, cfg); got != tc.want {
			t.Errorf("describe(%+v) = %q, want %q", tc.st, got, tc.want)
		}
	}
	if got := lastLogLine(filepath.Join(dir, "missing.log")); got != "" {
		t.Errorf("lastLogLine of a missing log = %q", got)
	}
	if got := lastLogLine(logPath(cfg)); !strings.HasSuffix(got, "holds no profiles") {
		t.Errorf("lastLogLine = %q", got)
	}
}

// TestServiceFailing: a helper that fails as it starts makes start fail, saying it stopped with
// an error, and status says the same; it never reads as running.
func TestServiceFailing(t *testing.T) {
	note := func(string) {}
	cfg := testService(t, "hyp-helper-fail", "helper-fails")
	if err := control(cfg, "install", note); err != nil {
		t.Fatalf("install: %v", err)
	}
	err := control(cfg, "start", note)
	if err == nil || !strings.Contains(err.Error(), "stopped at once: stopped with an error (helper exit code 1)") {
		t.Fatalf("start of a failing helper: %v", err)
	}
	st, err := status(cfg)
	if err != nil || st.Running || !strings.HasPrefix(st.Text, "stopped with an error") {
		t.Fatalf("status of a failed helper: %+v, %v", st, err)
	}
}

// testService is the configuration of a service whose executable is this test binary (see
// TestMain), removed when the test ends.
func testService(t *testing.T, name, dir string) Config {
	t.Helper()
	if !windows.GetCurrentProcessToken().IsElevated() {
		needs.Missing(t, "needs an elevated prompt: it installs a service")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Name: fmt.Sprintf("%s-%d", name, os.Getpid()), Executable: exe, Dir: filepath.Join(tempDir(t), dir)}
	t.Cleanup(func() { control(cfg, "uninstall", func(string) {}) })
	return cfg
}

// servicePID is the process of a running service.
func servicePID(t *testing.T, name string) uint32 {
	t.Helper()
	m, err := mgr.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil || st.ProcessId == 0 {
		t.Fatalf("querying %s: %+v, %v", name, st, err)
	}
	return st.ProcessId
}

// tempDir is t.TempDir without failing the test when the directory cannot be removed: Go's
// RemoveAll deletes with POSIX semantics (FILE_DISPOSITION_INFORMATION_EX), which wine 8 lacks.
func tempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hyp-helper-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
