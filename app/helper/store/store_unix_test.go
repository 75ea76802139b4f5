//go:build !windows

package store_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

// TestStoreRefusesNonRoot runs the store as nobody in a child process.
func TestStoreRefusesNonRoot(t *testing.T) {
	if os.Getenv("HYP_HELPER_AS_NOBODY") == "1" {
		s := store.Store{Dir: os.Getenv("HYP_HELPER_DIR")}
		for _, err := range []error{s.Add(testProfile(t, "x"), false), s.Remove("x"), func() error { _, err := s.List(); return err }()} {
			if err == nil || !strings.Contains(err.Error(), "needs root") || strings.Count(err.Error(), "\n") != 0 {
				t.Fatalf("as nobody: %v", err)
			}
		}
		return
	}
	needRoot(t)
	tmp, bin := testbin.CopySelf(t)
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
