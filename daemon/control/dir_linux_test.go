package control

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// Listen sets the socket's mode by a temporary name: in a directory someone else may write, that
// name could be swapped for a link to any file, so such a directory is refused (a root-owned
// sticky one, like /tmp, is not).
func TestListenRefusesADirectoryOthersMayWrite(t *testing.T) {
	needs.Root(t, "judges directory ownership as root does")
	base := t.TempDir()
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(open, "hypd.sock"), nil); err == nil || !strings.Contains(err.Error(), "can be written by group or others") {
		t.Fatalf("a 0777 directory: %v", err)
	}
	if err := os.Chmod(open, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	if err := CheckPath(filepath.Join(open, "hypd.sock")); err != nil {
		t.Fatalf("a root-owned sticky directory: %v", err)
	}
	theirs := filepath.Join(base, "theirs")
	if err := os.Mkdir(theirs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := CheckPath(filepath.Join(theirs, "hypd.sock")); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("another user's directory: %v", err)
	}
}
