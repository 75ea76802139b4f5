//go:build unix

package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// MoveAsideAt moves the entry of the directory it was given, even when the directory's path
// has since been re-pointed at another directory holding a file of the same name.
func TestMoveAsideAtMovesInTheOpenDirectory(t *testing.T) {
	top := t.TempDir()
	theirs, real := filepath.Join(top, "theirs"), filepath.Join(top, "real")
	for _, d := range []string{theirs, real} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "state.json"), []byte(d), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.Open(theirs)
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	if err := os.Rename(theirs, theirs+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, theirs); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 5, 14, 30, 0, 0, time.UTC)
	name, err := MoveAsideAt(dir, "state.json", now)
	if err != nil {
		t.Fatal(err)
	}
	if name != "state.json.damaged-20261205T143000Z" {
		t.Errorf("MoveAsideAt named the copy %q", name)
	}
	if b, err := os.ReadFile(filepath.Join(real, "state.json")); err != nil || string(b) != real {
		t.Errorf("the file of the directory the path names now: %q, %v; want it untouched", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(theirs+".old", name)); err != nil || string(b) != theirs {
		t.Errorf("the copy in the opened directory: %q, %v; want the file that was there", b, err)
	}
	if _, err := os.Lstat(filepath.Join(theirs+".old", "state.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the damaged file is still in the opened directory: %v", err)
	}
	// A second one the same second gets a counter; a name with a slash is refused.
	if err := os.WriteFile(filepath.Join(theirs+".old", "state.json"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if name, err := MoveAsideAt(dir, "state.json", now); err != nil || name != "state.json.damaged-20261205T143000Z.1" {
		t.Errorf("the second copy: %q, %v", name, err)
	}
	if _, err := MoveAsideAt(dir, "../real/state.json", now); err == nil {
		t.Error("MoveAsideAt took a path outside the directory")
	}
	if _, err := MoveAsideAt(dir, "missing", now); err == nil {
		t.Error("moving a missing file aside succeeded")
	}
}
