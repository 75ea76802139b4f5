//go:build linux

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// Attacker review (h-attack2): ways the keys directory watch keeps a key loaded after the admin
// removed it. Each is a revoked key that still opens until something else makes hypd reload.

// A key file that is a symlink to a file elsewhere (an admin who keeps the files in one place and
// links them in): deleting or editing the target is no event in the keys directory, so a key
// revoked there would stay loaded. Such a key file is refused (it never loads, so removing its
// target revokes nothing that could still open), with a problem naming it; the watch then has
// nothing to miss.
func TestWatchSeesAKeyFileSymlinkTargetRemoved(t *testing.T) {
	root := t.TempDir()
	keys, store := filepath.Join(root, "keys"), filepath.Join(root, "store")
	must(t, os.Mkdir(keys, 0o700))
	set := stage(t, store, "alice", "bob")
	for _, n := range []string{"alice", "bob"} {
		must(t, os.Symlink(filepath.Join(store, n+".toml"), filepath.Join(keys, n+".toml")))
	}
	got, problems := LoadKeys(keys, daemonDefaults())
	if len(got) != 0 {
		t.Fatalf("loaded %v through symlinks to %s, outside the keys directory; want them refused", loaded(got), store)
	}
	if len(problems) != 2 {
		t.Fatalf("problems %v; want one for each of %v", problems, set)
	}
	for i, n := range []string{"alice", "bob"} {
		if msg := problems[i].Error(); !strings.Contains(msg, filepath.Join(keys, n+".toml")) || !strings.Contains(msg, "outside the keys directory") {
			t.Errorf("problem %q; want it to name %s.toml and say its link leads outside the keys directory", msg, n)
		}
	}
	l := startWatch(t, keys)
	// Revoke alice where the file lives: nothing of hers was loaded, nothing is.
	must(t, os.Remove(filepath.Join(store, "alice.toml")))
	l.quiet("alice's key file (the symlink's target) removed")
	if got := loaded(mustLoadAll(t, keys)); len(got) != 0 {
		t.Errorf("loaded %v after alice's target was removed; want nothing", got)
	}
}

// keys -> current -> v1, where current is a symlink in another directory (a release layout:
// /etc/hyp/keys -> /srv/hyp/current, current -> releases/N). The swap renames a new current over
// the old; the watch is on v1's inode and on keys' parent, neither of which sees it.
func TestWatchFollowsASwapOneSymlinkFurther(t *testing.T) {
	root := t.TempDir()
	etc, srv := filepath.Join(root, "etc"), filepath.Join(root, "srv")
	must(t, os.Mkdir(etc, 0o700))
	must(t, os.Mkdir(srv, 0o700))
	_ = stage(t, filepath.Join(srv, "v1"), "alice", "bob")
	must(t, os.Symlink("v1", filepath.Join(srv, "current")))
	keys := filepath.Join(etc, "keys")
	must(t, os.Symlink(filepath.Join(srv, "current"), keys))
	l := startWatch(t, keys)
	// Release v2 revokes alice.
	set := stage(t, filepath.Join(srv, "v2"), "bob")
	must(t, os.Symlink("v2", filepath.Join(srv, "current.tmp")))
	must(t, os.Rename(filepath.Join(srv, "current.tmp"), filepath.Join(srv, "current")))
	l.next("current swapped from v1 to v2", set)
}

// A keys directory that another user can write (or a symlink to one) lets that user choose
// which root-owned files are key files: a link to a revoked key kept aside brings it back.
// hypd checks each file's owner, mode and links, but not the directory that names them.
func TestLoadKeysRefusesADirectoryAnotherUserCanWrite(t *testing.T) {
	needRootForChown(t)
	root := t.TempDir()
	must(t, os.Chmod(root, 0o755))
	revoked := stage(t, filepath.Join(root, "revoked"), "mallory")
	keys := filepath.Join(root, "keys")
	must(t, os.Mkdir(keys, 0o700))
	must(t, os.Chown(keys, 65534, 65534)) // nobody's directory, as after a careless chown -R
	// What nobody can do in a directory of his: link a root-owned file in.
	must(t, os.Symlink(filepath.Join(root, "revoked", "mallory.toml"), filepath.Join(keys, "mallory.toml")))
	keysGot, problems := LoadKeys(keys, daemonDefaults())
	if len(keysGot) != 0 {
		t.Errorf("loaded %v from a keys directory owned by uid 65534 (revoked key %v back); want it refused", loaded(keysGot), revoked)
	}
	if len(problems) == 0 {
		t.Errorf("no problem reported for a keys directory owned by uid 65534")
	}
}

// mustLoadAll loads what loads, problems or not.
func mustLoadAll(t *testing.T, dir string) []Key {
	t.Helper()
	keys, _ := LoadKeys(dir, daemonDefaults())
	return keys
}

func mustLoad(t *testing.T, dir string) []Key {
	t.Helper()
	keys, problems := LoadKeys(dir, daemonDefaults())
	for _, p := range problems {
		t.Fatal(p)
	}
	return keys
}

func needRootForChown(t *testing.T) {
	t.Helper()
	needs.Root(t, "chown of the keys directory to another user")
}
