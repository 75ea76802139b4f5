package helperipc

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestListenRefusesUserAncestor: the helper (root) will not make its socket anywhere under a
// directory a user owns, or one others may write to without the sticky bit, however deep and
// however root's own the directories below it are: that user could rename the path out from
// under the helper between its check and its chmod. Nor through a user's symbolic link (in a
// sticky directory such as /tmp), which the user could repoint for the clients. The refusal
// names the directory or link, and nothing is created in that tree.
func TestListenRefusesUserAncestor(t *testing.T) {
	needs.Root(t, "chowns a directory to nobody")
	base := t.TempDir()
	owned := filepath.Join(base, "nobody")
	shared := filepath.Join(base, "shared")
	for d, mode := range map[string]os.FileMode{owned: 0o755, shared: 0o775} {
		if err := os.Mkdir(d, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		// root's own directory below it, 0755
		if err := os.Mkdir(filepath.Join(d, "run"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(owned, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sock, dir, want string }{
		{filepath.Join(owned, "run", "helper.sock"), owned, "owned by uid 65534"},
		{filepath.Join(owned, "run", "deeper", "helper.sock"), owned, "owned by uid 65534"},
		{filepath.Join(shared, "run", "helper.sock"), shared, "writable by others"},
	} {
		ln, err := Listen(Config{Address: tc.sock})
		if err == nil {
			ln.Close()
			t.Errorf("listened on %s", tc.sock)
			continue
		}
		if !strings.Contains(err.Error(), tc.dir+", above the helper's socket directory") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("listening on %s: %v (want %s named, %q)", tc.sock, err, tc.dir, tc.want)
		}
		t.Logf("refused: %v", err)
	}
	// A user's link in a sticky directory, to root's own directory: the path clients follow is
	// the user's to repoint.
	sticky := filepath.Join(base, "tmp")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	rootsOwn := filepath.Join(base, "roots")
	if err := os.Mkdir(rootsOwn, 0o755); err != nil {
		t.Fatal(err)
	}
	usersLink := filepath.Join(sticky, "link")
	if err := os.Symlink(rootsOwn, usersLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(usersLink, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if ln, err := Listen(Config{Address: filepath.Join(usersLink, "helper.sock")}); err == nil {
		ln.Close()
		t.Errorf("listened through a user's link %s", usersLink)
	} else if !strings.Contains(err.Error(), usersLink+", on the way") || !strings.Contains(err.Error(), "not root's") {
		t.Errorf("listening through a user's link: %v", err)
	} else {
		t.Logf("refused: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(owned, "run", "deeper")); !os.IsNotExist(err) {
		t.Errorf("a directory was made under the user's tree: %v", err)
	}
	for _, d := range []string{owned, shared} {
		if _, err := os.Lstat(filepath.Join(d, "run", "helper.sock")); !os.IsNotExist(err) {
			t.Errorf("a socket was made under %s: %v", d, err)
		}
	}
}

// TestListenThroughRootsLink: a socket path through root's own symbolic link (as /var/run is
// one) is fine: the socket is made in the directory the link names, owned by root with the
// configured mode, and removed when the listener closes.
func TestListenThroughRootsLink(t *testing.T) {
	needs.Root(t, "the socket's owner is root")
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	ln, err := Listen(Config{Address: filepath.Join(link, "helper.sock"), Mode: 0o600})
	if err != nil {
		t.Fatal(err)
	}
	if got := ln.Addr().String(); got != filepath.Join(link, "helper.sock") {
		t.Errorf("the listener's address is %s", got)
	}
	st, err := os.Lstat(filepath.Join(real, "helper.sock"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Type() != os.ModeSocket || st.Mode().Perm() != 0o600 || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("the socket is %v uid %d, want a socket 0600 of root's", st.Mode(), st.Sys().(*syscall.Stat_t).Uid)
	}
	c, err := testClient(filepath.Join(link, "helper.sock")).dial(t.Context())
	if err != nil {
		t.Fatalf("dialling the socket through the link: %v", err)
	}
	c.Close()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(real, "helper.sock")); !os.IsNotExist(err) {
		t.Errorf("the socket outlived its listener: %v", err)
	}
}
