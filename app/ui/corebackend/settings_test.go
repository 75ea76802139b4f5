package corebackend

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/psk"
)

// TestSaveKeepsEverySetting: the window's keep-alive, uses and always-on reach the store and
// come back in the list; what the window does not show (the gap, the secret file) survives an
// edit, and the secret file is not rewritten.
func TestSaveKeepsEverySetting(t *testing.T) {
	store, err := profiles.Open(profiles.Options{Dir: t.TempDir(), Secrets: profiles.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	b := New(store, &connect.Connector{State: &knockstate.Memory{}})
	key, _ := psk.Generate()
	p := office()
	p.KeepAlive, p.Uses, p.AlwaysOn = 25*time.Second, 4, true
	if err := b.Save("", p, key); err != nil {
		t.Fatal(err)
	}
	ps, err := b.Profiles()
	if err != nil || len(ps) != 1 {
		t.Fatalf("Profiles: %+v %v", ps, err)
	}
	if got := ps[0]; got.KeepAlive != 25*time.Second || got.Uses != 4 || !got.AlwaysOn {
		t.Fatalf("listed keep-alive %v, uses %d, always-on %v; want 25s, 4, true", got.KeepAlive, got.Uses, got.AlwaysOn)
	}

	// Settings only the CLI sets: a gap and a secret file (the gateway's TOML key file).
	stored, err := store.Get("office")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "office.toml")
	file := "secret = \"" + key.Encode() + "\"\nuses = 4\n"
	if err := os.WriteFile(keyFile, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	stored.Gap, stored.SecretFile = 30*time.Millisecond, keyFile
	if err := store.Put(stored, true); err != nil {
		t.Fatal(err)
	}

	// The window turns keep-alive and always-on off and lowers uses, without retyping the key.
	p.KeepAlive, p.Uses, p.AlwaysOn = 0, 2, false
	if err := b.Save("office", p, psk.Key{}); err != nil {
		t.Fatal(err)
	}
	got, err := store.Get("office")
	if err != nil {
		t.Fatal(err)
	}
	if got.KeepAlive != 0 || got.Uses != 2 || got.AlwaysOn || got.Gap != 30*time.Millisecond || got.SecretFile != keyFile || !got.Key.Equal(key) {
		t.Fatalf("after the edit: keep-alive %v, uses %d, always-on %v, gap %v, secret file %q (key kept %v)",
			got.KeepAlive, got.Uses, got.AlwaysOn, got.Gap, got.SecretFile, got.Key.Equal(key))
	}
	if b, _ := os.ReadFile(keyFile); string(b) != file {
		t.Fatalf("saving the profile rewrote its TOML key file:\n%s", b)
	}
}
