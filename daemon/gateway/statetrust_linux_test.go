package gateway

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/hideyourports/hyp/daemon/protected"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// A saved protection someone other than root could have written (a refused hypd.toml may point
// state_dir at it) still hides what it names, but makes nothing public.
func TestUntrustedLastProtectionMakesNothingPublic(t *testing.T) {
	needs.Root(t, "chowns a state directory to another user")
	ssh := protected.Service{Proto: "tcp", Port: 22}
	web := protected.Service{Proto: "tcp", Port: 443}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := saveProtection(dir, Protection{Protected: []protected.Service{web}, Public: []protected.Service{ssh}}); err != nil {
		t.Fatal(err)
	}
	if p := readLastProtection(log, dir); p == nil || len(p.Public) != 1 || len(p.Protected) != 1 {
		t.Fatalf("root's own protection: %+v", p)
	}
	if err := os.Chown(dir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	p := readLastProtection(log, dir)
	if p == nil || len(p.Public) != 0 || len(p.Protected) != 1 || p.Protected[0] != web {
		t.Fatalf("a protection in another user's directory: %+v, want tcp/443 hidden and nothing public", p)
	}
	if err := os.Chown(dir, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, protectionFile), 0o666); err != nil {
		t.Fatal(err)
	}
	if p := readLastProtection(log, dir); p == nil || len(p.Public) != 0 {
		t.Fatalf("a protection file others may write: %+v, want nothing public", p)
	}
}
