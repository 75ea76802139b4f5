package config

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func waitChanged(t *testing.T, w *Watcher, why string) {
	t.Helper()
	select {
	case <-w.Changed():
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: no change signalled", why)
	}
}

func noChange(t *testing.T, w *Watcher, why string) {
	t.Helper()
	select {
	case <-w.Changed():
		t.Fatalf("%s: change signalled", why)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestWatcher(t *testing.T) {
	dir := t.TempDir()
	w, err := Watch(dir, 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	// WriteKeyFile's burst (temp file, chmod, write, link, remove) ends in
	// one signal.
	if _, err := WriteKeyFile(dir, "alice", Key{Secret: newSecret(t)}, false); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, "new key")
	noChange(t, w, "after the burst")

	// Editor and hidden files do not count.
	writeFile(t, dir, ".alice.key.swp", "x", 0o600)
	writeFile(t, dir, "alice.key~", "x", 0o600)
	noChange(t, w, "swap and backup files")

	if err := os.Chmod(filepath.Join(dir, "alice.key"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, "chmod")
	if err := os.Remove(filepath.Join(dir, "alice.key")); err != nil {
		t.Fatal(err)
	}
	waitChanged(t, w, "removal")

	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A keys directory that does not exist yet is no error: hypd may start before the keys are
// rolled out. Watch then waits for it (TestWatchWaitsForAMissingDirectory).
func TestWatchMissingDir(t *testing.T) {
	w, err := Watch(filepath.Join(t.TempDir(), "nope"), 0)
	if err != nil {
		t.Fatalf("watching a keys directory that does not exist yet: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
