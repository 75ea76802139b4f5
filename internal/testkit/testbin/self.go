package testbin

import (
	"os"
	"path/filepath"
	"testing"
)

// CopySelf copies the running test binary into a fresh directory that every user may enter,
// so that a test can run it again as another user (a child with SysProcAttr.Credential): the
// go tool's own copy sits in a directory only its builder may enter. The directory is removed
// when t ends.
func CopySelf(t testing.TB) (dir, bin string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("finding the test binary: %v", err)
	}
	dir, err = os.MkdirTemp("", "hyp-test-self-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatalf("reading the test binary: %v", err)
	}
	bin = filepath.Join(dir, filepath.Base(exe))
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, bin
}
