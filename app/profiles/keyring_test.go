package profiles_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// needSecretService skips unless the test runs against a real Secret Service
// (CI: dbus-run-session + gnome-keyring, HYP_SECRET_SERVICE=1).
func needSecretService(t *testing.T) {
	t.Helper()
	needs.Env(t, "HYP_SECRET_SERVICE", "1", "a real Secret Service: run under dbus-run-session with gnome-keyring (.ci/test does)")
}

// TestSecretServiceStore stores, reads back, updates and removes a profile in the
// real OS keyring, and greps the config directory for the key.
func TestSecretServiceStore(t *testing.T) {
	needSecretService(t)
	kr := profiles.Keyring{Service: fmt.Sprintf("hyp-test-%d", os.Getpid())}
	dir := t.TempDir()
	s, err := profiles.Open(profiles.Options{Dir: dir, Secrets: kr})
	if err != nil {
		t.Fatal(err)
	}
	p := testProfile(t, "office")
	t.Cleanup(func() { _ = kr.Delete("office") })
	if err := s.Put(p, false); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get("office")
	if err != nil || !got.Key.Equal(p.Key) {
		t.Fatalf("read back: %v", err)
	}
	// Straight from the keyring, not through the store.
	if k, err := kr.Get("office"); err != nil || !k.Equal(p.Key) {
		t.Fatalf("keyring Get: %v", err)
	}
	assertNoSecret(t, dir, p.Key)

	old := p.Key
	p.Key = newKey(t)
	if err := s.Put(p, true); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get("office"); err != nil || !got.Key.Equal(p.Key) || got.Key.Equal(old) {
		t.Fatalf("update: %v", err)
	}
	assertNoSecret(t, dir, p.Key)
	assertNoSecret(t, dir, old)

	if _, err := s.Remove("office"); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Get("office"); !errors.Is(err, profiles.ErrNoSecret) {
		t.Fatalf("keyring entry survived Remove: %v", err)
	}
}

// TestSecretServiceMissingEntry: a profile whose keyring entry is gone says so.
func TestSecretServiceMissingEntry(t *testing.T) {
	needSecretService(t)
	kr := profiles.Keyring{Service: fmt.Sprintf("hyp-test-%d", os.Getpid())}
	if _, err := kr.Get("never-stored"); !errors.Is(err, profiles.ErrNoSecret) {
		t.Fatalf("Get of a missing entry: %v, want ErrNoSecret", err)
	}
	if err := kr.Delete("never-stored"); !errors.Is(err, profiles.ErrNoSecret) {
		t.Fatalf("Delete of a missing entry: %v, want ErrNoSecret", err)
	}
}

// TestNoSessionBusSaysSo: with no D-Bus session bus the keyring fails at once
// with ErrNoKeyring instead of autolaunching a bus.
func TestNoSessionBusSaysSo(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the session-bus check is Linux only")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	kr := profiles.Keyring{Service: "hyp-test-nobus"}
	err := kr.Set("x", newKey(t))
	if !errors.Is(err, profiles.ErrNoKeyring) || !strings.Contains(err.Error(), "D-Bus") {
		t.Fatalf("Set without a bus: %v", err)
	}
	s, _ := profiles.Open(profiles.Options{Dir: filepath.Join(t.TempDir(), "c"), Secrets: kr})
	if err := s.Put(testProfile(t, "x"), false); !errors.Is(err, profiles.ErrNoKeyring) {
		t.Fatalf("Put without a bus: %v", err)
	}
	if _, err := os.Stat(s.Path()); !os.IsNotExist(err) {
		t.Fatal("a profile was saved although its key could not be")
	}
}
