//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// A key file another user owns, or one with a second hard link (through which its owner can
// rewrite services and open time), is refused: the attacker review widened a user's own key that
// way.
func TestKeyFileOwnedByAnotherUserOrLinkedIsRefused(t *testing.T) {
	needs.Root(t, "chowns a key file to another user")
	dir := t.TempDir()
	k, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("secret = \""+k.Encode()+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.toml")
	if _, err := loadKey(good, Default()); err != nil {
		t.Fatalf("root's own key file: %v", err)
	}
	theirs := write("theirs.toml")
	if err := os.Chown(theirs, 4242, 4242); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(theirs, Default()); err == nil || !strings.Contains(err.Error(), "owned by uid 4242") {
		t.Errorf("a key file owned by uid 4242 = %v; want refused", err)
	}
	linked := write("linked.toml")
	if err := os.Link(linked, filepath.Join(t.TempDir(), "elsewhere")); err != nil {
		t.Fatal(err)
	}
	if _, err := loadKey(linked, Default()); err == nil || !strings.Contains(err.Error(), "2 hard links") {
		t.Errorf("a key file with a second hard link = %v; want refused", err)
	}
}
