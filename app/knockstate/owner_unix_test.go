//go:build unix

package knockstate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestFileRefusesAnotherUsersDirectory: root (hyp under sudo -E, with the
// user's XDG_STATE_HOME) finds a knocks.json.lock the user linked to a file of
// their choice. The reservation fails, naming the directory's owner, and the
// link's target is not created.
func TestFileRefusesAnotherUsersDirectory(t *testing.T) {
	needs.Root(t, "chowns a directory to nobody, as a user's state directory under sudo")
	dir := filepath.Join(t.TempDir(), "hyp")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "nologin")
	if err := os.Symlink(victim, filepath.Join(dir, FileName+".lock")); err != nil {
		t.Fatal(err)
	}
	_, err := (&File{Path: filepath.Join(dir, FileName)}).Reserve(testKey(t, 9), sequence.Defaults(), "gw.example.net", 1, at(300, 0))
	if err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("reserving in nobody's directory as root: %v", err)
	}
	if _, err := os.Lstat(victim); !os.IsNotExist(err) {
		t.Fatalf("root created the link's target %s: %v", victim, err)
	}
}

// TestFileRefusesLinks: in the process's own directory, a lock file or state
// file that is a symbolic link is refused, whatever it points at.
func TestFileRefusesLinks(t *testing.T) {
	for _, name := range []string{FileName + ".lock", FileName} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			victim := filepath.Join(t.TempDir(), "target")
			if err := os.WriteFile(victim, []byte(`{"version":1}`), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(victim, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			_, err := (&File{Path: filepath.Join(dir, FileName)}).Reserve(testKey(t, 10), sequence.Defaults(), "gw.example.net", 1, at(300, 0))
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("a linked %s: %v", name, err)
			}
			if b, _ := os.ReadFile(victim); string(b) != `{"version":1}` {
				t.Fatalf("the link's target changed: %s", b)
			}
		})
	}
}

// A state directory that is a symbolic link to a directory this process owns is still refused:
// under sudo -E, the user's link to a root directory must not pass root's owner check.
func TestFileRefusesALinkedDirectory(t *testing.T) {
	target := t.TempDir()
	link := filepath.Join(t.TempDir(), "hyp")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	_, err := (&File{Path: filepath.Join(link, FileName)}).Reserve(testKey(t, 11), sequence.Defaults(), "gw.example.net", 1, at(300, 0))
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("reserving through a linked state directory: %v", err)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Fatalf("files were created through the link: %v", entries)
	}
}
