package store_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

const uri = "hyp://192.0.2.7?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ&check=tcp/443"

func needRoot(t testing.TB) {
	t.Helper()
	needs.Root(t, "the helper store is root-only")
}

func testProfile(t testing.TB, name string) profiles.Profile {
	t.Helper()
	cp, _, err := profile.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	p := profiles.FromURI(name, cp)
	p.KeepAlive = 30 * time.Second
	p.Command = []string{"/usr/bin/wg-quick", "up", name}
	return p
}

func TestStorePermissions(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "etc", "hyp", "helper")
	s := store.Store{Dir: dir}
	if all, err := s.List(); err != nil || len(all) != 0 {
		t.Fatalf("missing store: %v %v", all, err)
	}
	p := testProfile(t, "office")
	if err := s.Add(p, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(p, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Add: %v", err)
	}
	if err := s.Add(testProfile(t, "home"), false); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("store mode %o, want 700", st.Mode().Perm())
	}
	for _, n := range []string{"office", "home"} {
		if st, err := os.Stat(s.Path(n)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want 0600", n, st, err)
		}
	}
	all, err := s.List()
	if err != nil || len(all) != 2 || all[0].Name != "home" || all[1].Name != "office" {
		t.Fatalf("List: %v %v", all, err)
	}
	got := all[1]
	if !got.Key.Equal(p.Key) || got.KeepAlive != p.KeepAlive || strings.Join(got.Command, " ") != "/usr/bin/wg-quick up office" || got.CheckPort != 443 || !got.AlwaysOn {
		t.Fatalf("read back %+v", got)
	}

	// A file others can read is refused, naming it and the fix.
	os.Chmod(s.Path("office"), 0o644)
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), s.Path("office")) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("List with a 0644 file: %v", err)
	}
	os.Chmod(s.Path("office"), 0o600)
	os.Chmod(dir, 0o755)
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), "mode 0755") {
		t.Fatalf("List with a 0755 store: %v", err)
	}
	// Add puts the mode right again.
	if err := s.Add(p, true); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatal("Add did not re-secure the store")
	}
	if err := s.Remove("office"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("office"); !errors.Is(err, profiles.ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
}
