package helper

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
)

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
