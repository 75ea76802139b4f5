//go:build linux

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A FIFO in the keys directory (left by a script, or planted) must not block the key loader:
// LoadKeys would otherwise hang hypd's start or every reload.
func TestLoadKeysDoesNotBlockOnAFIFO(t *testing.T) {
	dir := t.TempDir()
	_, text := referenceKey(t)
	if err := os.WriteFile(filepath.Join(dir, "alice.key"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mkfifo(filepath.Join(dir, "bob.key"), 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var keys []Key
	var problems []error
	go func() {
		keys, problems = LoadKeys(dir, daemonDefaults())
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("LoadKeys blocked on a FIFO")
	}
	if len(keys) != 1 || keys[0].Name != "alice" {
		t.Errorf("keys = %v, want alice only", keys)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), "bob.key: not a regular file") {
		t.Errorf("problems = %v, want one naming bob.key as not a regular file", problems)
	}
}
