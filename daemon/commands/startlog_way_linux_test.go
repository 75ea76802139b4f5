//go:build linux

package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// hypd start's log is reached without symlinks: a symlinked directory on the way would let
// whoever can change it choose where root creates the log, and each directory on the way must
// be root's and not writable by others (the third attacker review).
func TestOpenLogRefusesASymlinkedDirectoryOnTheWay(t *testing.T) {
	needs.Root(t, "chowns a directory to another user")
	base := t.TempDir()
	realDir := filepath.Join(base, "real", "logs")
	if err := os.MkdirAll(realDir, 0o750); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "via")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	_, err := openLog(filepath.Join(link, "logs", "hypd.log"))
	if err == nil || !strings.Contains(err.Error(), link) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("openLog through %s: %v; want it refused naming the link", link, err)
	}
	if _, err := os.Lstat(filepath.Join(realDir, "hypd.log")); err == nil {
		t.Fatal("a log was created through the symlinked directory")
	}

	// Without the link it opens.
	f, err := openLog(filepath.Join(realDir, "hypd.log"))
	if err != nil {
		t.Fatalf("openLog of a path without symlinks: %v", err)
	}
	f.Close()

	// A directory above the last that another user owns: refused, naming it.
	theirs := filepath.Join(base, "theirs")
	if err := os.MkdirAll(filepath.Join(theirs, "logs"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(theirs, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err = openLog(filepath.Join(theirs, "logs", "hypd.log"))
	if err == nil || !strings.Contains(err.Error(), theirs) || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("openLog under another user's directory: %v; want it refused naming %s", err, theirs)
	}
	if _, err := os.Lstat(filepath.Join(theirs, "logs", "hypd.log")); err == nil {
		t.Fatal("a log was created under another user's directory")
	}
}
