//go:build linux

package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A key file may be a symlink as long as the files it leads through stay where the watch looks:
// in the keys directory, or, through the ..data link, in the directory right in it that ..data
// leads to (a Kubernetes volume's ..TIMESTAMP, changed only by the ..data swap). A link out, to
// a subdirectory the watch does not see into, or through a link kept elsewhere, is refused with
// a problem naming the file; the others load.
func TestKeyFileSymlinksMustStayInTheKeysDirectory(t *testing.T) {
	root := t.TempDir()
	keys := filepath.Join(root, "keys")
	must(t, os.Mkdir(keys, 0o700))
	inside := stage(t, filepath.Join(keys, "..gen0"), "alice", "dave")
	must(t, os.Symlink("..gen0", filepath.Join(keys, "..data")))
	stage(t, filepath.Join(keys, ".store"), "bob")
	stage(t, filepath.Join(root, "elsewhere"), "erin")
	stage(t, filepath.Join(keys, "..gen1"), "frank")
	// alice: the Kubernetes layout.
	must(t, os.Symlink("..data/alice.toml", filepath.Join(keys, "alice.toml")))
	// dave: the same, by a path that leaves the keys directory and comes back (no link outside).
	must(t, os.Symlink("../keys/..data/dave.toml", filepath.Join(keys, "dave.toml")))
	// bob: to a subdirectory (hidden or not), where a file removed is no event the watch sees.
	must(t, os.Symlink(".store/bob.toml", filepath.Join(keys, "bob.toml")))
	// carol: to alice's file through a link kept outside, which can be swapped unseen.
	must(t, os.Symlink(filepath.Join(keys, "..data", "alice.toml"), filepath.Join(root, "hop")))
	must(t, os.Symlink(filepath.Join(root, "hop"), filepath.Join(keys, "carol.toml")))
	// erin: to a file outside.
	must(t, os.Symlink("../elsewhere/erin.toml", filepath.Join(keys, "erin.toml")))
	// frank: through ..data, but on to another directory than the one ..data leads to.
	must(t, os.Symlink("..data/../..gen1/frank.toml", filepath.Join(keys, "frank.toml")))

	got, problems := LoadKeys(keys, daemonDefaults())
	if !slices.Equal(loaded(got), inside) {
		t.Errorf("loaded %v; want %v", loaded(got), inside)
	}
	for _, n := range []string{"bob", "carol", "erin", "frank"} {
		if !slices.ContainsFunc(problems, func(p error) bool {
			return strings.Contains(p.Error(), filepath.Join(keys, n+".toml")) && strings.Contains(p.Error(), "outside the keys directory")
		}) {
			t.Errorf("no problem says %s.toml leads outside the keys directory: %v", n, problems)
		}
	}
	if len(problems) != 4 {
		t.Errorf("%d problems; want 4 (bob, carol, erin, frank): %v", len(problems), problems)
	}
}

// The keys directory itself may be reached through symlinks (keys -> /srv/hyp/current -> v1):
// those are the watch's to follow, and the key files in it are plain files in it.
func TestKeysDirectoryBehindSymlinksLoads(t *testing.T) {
	root := t.TempDir()
	srv := filepath.Join(root, "srv")
	must(t, os.Mkdir(srv, 0o700))
	set := stage(t, filepath.Join(srv, "v1"), "alice")
	must(t, os.Symlink("v1", filepath.Join(srv, "current")))
	keys := filepath.Join(root, "keys")
	must(t, os.Symlink(filepath.Join(srv, "current"), keys))
	if got := loaded(mustLoad(t, keys)); !slices.Equal(got, set) {
		t.Errorf("loaded %v; want %v", got, set)
	}
}

// hypd may start before its keys directory exists, several levels of it: the watch waits on the
// nearest directory that exists, follows each level as it appears, and a key added then removed
// is each a change (the attacker review: a late directory was never watched, and a key removed
// from it stayed loaded).
func TestWatchWaitsForAMissingDirectory(t *testing.T) {
	root := t.TempDir()
	keys := filepath.Join(root, "etc", "hyp", "keys")
	l := startWatch(t, keys)
	must(t, os.Mkdir(filepath.Join(root, "etc"), 0o700))
	must(t, os.Mkdir(filepath.Join(root, "etc", "hyp"), 0o700))
	must(t, os.Mkdir(keys, 0o700))
	// Each level appearing may be a signal of its own; each loads nothing. Once they are over,
	// the watch must be on the keys directory, or the key added next goes unseen.
	l.next("the keys directory appearing", nil)
	for quiet := false; !quiet; {
		select {
		case got := <-l.got:
			if len(got) != 0 {
				t.Fatalf("loaded %v from an empty keys directory", got)
			}
		case <-time.After(500 * time.Millisecond):
			quiet = true
		}
	}
	alice := newSecret(t)
	writeFile(t, keys, "alice.toml", "secret = \""+alice.Encode()+"\"\nservices = [\"tcp/22\"]\n", 0o600)
	l.next("a key added to the late directory", []string{"alice:" + alice.ID()})
	must(t, os.Remove(filepath.Join(keys, "alice.toml")))
	l.next("the key removed again", nil)
}

// A swap that no watched directory sees (here a directory two levels above the keys directory
// renamed away and another put in its place) is caught by the safety check: the path resolves
// to another directory than the one watched.
func TestWatchSafetyCheckSeesASwapNoEventShows(t *testing.T) {
	root := t.TempDir()
	must(t, os.Mkdir(filepath.Join(root, "x"), 0o700))
	must(t, os.Mkdir(filepath.Join(root, "x", "a"), 0o700))
	keys := filepath.Join(root, "x", "a", "keys")
	stage(t, keys, "alice")
	w, err := watch(keys, 30*time.Millisecond, 200*time.Millisecond)
	must(t, err)
	t.Cleanup(func() { must(t, w.Close()) })
	must(t, os.Mkdir(filepath.Join(root, "y"), 0o700))
	must(t, os.Mkdir(filepath.Join(root, "y", "a"), 0o700))
	stage(t, filepath.Join(root, "y", "a", "keys"), "bob")
	must(t, os.Rename(filepath.Join(root, "x"), filepath.Join(root, "x.old")))
	must(t, os.Rename(filepath.Join(root, "y"), filepath.Join(root, "x")))
	waitChanged(t, w, "x swapped under the keys directory")
	// The watch now follows the new directory: an edit there is seen.
	must(t, os.Remove(filepath.Join(keys, "bob.toml")))
	waitChanged(t, w, "a key removed from the swapped-in directory")
}
