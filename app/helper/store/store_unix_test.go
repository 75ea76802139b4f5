//go:build !windows

package helper_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hideyourports/hyp/app/helper"
)

// TestStoreRefusesNonRoot runs the store as nobody in a child process.
func TestStoreRefusesNonRoot(t *testing.T) {
	if os.Getenv("HYP_HELPER_AS_NOBODY") == "1" {
		s := helper.Store{Dir: os.Getenv("HYP_HELPER_DIR")}
		for _, err := range []error{s.Add(testProfile(t, "x"), false), s.Remove("x"), func() error { _, err := s.List(); return err }()} {
			if err == nil || !strings.Contains(err.Error(), "needs root") || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("as nobody: %v", err)
			}
		}
		return
	}
	needRoot(t)
	tmp, bin := copyTestBinary(t)
	cmd := exec.Command(bin, "-test.run", "^TestStoreRefusesNonRoot$", "-test.v")
	cmd.Env = append(os.Environ(), "HYP_HELPER_AS_NOBODY=1", "HYP_HELPER_DIR="+filepath.Join(tmp, "store"))
	cmd.Dir = tmp
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(tmp, "store")); !os.IsNotExist(err) {
		t.Fatal("a non-root Add created the store")
	}
}

// copyTestBinary copies this test binary into a fresh directory others may
// enter, so a child can run it as another user.
func copyTestBinary(t *testing.T) (dir, bin string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "hyp-helper-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin = filepath.Join(dir, "helper.test")
	exe, _ := os.Executable()
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}
