//go:build linux

package config

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// Attacker review (h-attack3): the keys directory may be a root-owned sticky directory that
// others may write into (the Kubernetes exception of keysDirProblem). Entries another user
// plants there are refused, but their events still count: each one restarts the debounce timer,
// so a user who writes a file of their own there more often than the debounce keeps every
// change from ever being signalled. A key root removes then stays loaded (and opens) for as long
// as the user likes; the 10 s safety check does not help, since it only compares which
// directory the path names, and its own signal waits for the same timer.
func TestWatchSignalsARevocationWhileAnotherUserKeepsTheStickyKeysDirectoryBusy(t *testing.T) {
	needs.Root(t, "a keys directory owned by root and a writer that is not root")
	root := t.TempDir()
	// The other user must reach the keys directory (t.TempDir's directories are root's 0700).
	must(t, os.Chmod(filepath.Dir(root), 0o755))
	must(t, os.Chmod(root, 0o755))
	keys := filepath.Join(root, "keys")
	_ = stage(t, keys, "alice", "bob")
	must(t, os.Chmod(keys, os.ModeSticky|0o777)) // as Kubernetes mounts a secret volume: drwxrwxrwt root root
	// Fixed twice: such a directory loads only on a read-only mount (where nobody can keep it
	// busy), and the watch signals a change however busy the directory is.
	if got, problems := LoadKeys(keys, daemonDefaults()); len(got) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "read-only mount") {
		t.Fatalf("loaded %v, problems %v; want the sticky directory that is not on a read-only mount refused", loaded(got), problems)
	}
	w, err := Watch(keys, 0) // hypd's own debounce
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	// The other user (nobody) rewrites a file of their own in the keys directory, faster than
	// the debounce. It is refused as a key, and it needs no right but the directory's mode.
	noise := exec.Command("/bin/sh", "-c", `while :; do echo x > "$1"; sleep 0.05; done`, "sh", filepath.Join(keys, "noise"))
	noise.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	must(t, noise.Start())
	t.Cleanup(func() {
		_ = noise.Process.Kill()
		_ = noise.Wait()
	})
	// Let the writer start, and drain what its first writes signalled before it kept up.
	time.Sleep(time.Second)
	for drained := false; !drained; {
		select {
		case <-w.Changed():
		default:
			drained = true
		}
	}
	if fi, err := os.Lstat(filepath.Join(keys, "noise")); err != nil {
		t.Fatalf("the other user could not write into the sticky keys directory: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 {
		t.Fatalf("noise is owned by uid %d; want the other user's (65534)", st.Uid)
	}

	// Root revokes alice.
	must(t, os.Remove(filepath.Join(keys, "alice.toml")))
	limit := SafetyInterval + 2*time.Second
	select {
	case <-w.Changed():
	case <-time.After(limit):
		t.Fatalf("alice's key file removed, but no change signalled within %v while another user writes into the keys directory: the revoked key stays loaded", limit)
	}
	if got := loaded(mustLoadAll(t, keys)); slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, "alice:") }) {
		t.Fatalf("after the signal loaded %v; want alice gone", got)
	}
}

// In a root-owned sticky keys directory, LoadKeys refuses an entry another user owns, judging it
// by lstat; but when that lstat fails the entry is not refused, it is loaded. The other user
// makes it fail by removing their entry between the directory listing and the lstat, and puts it
// back before the open: their symlink to root's zzzz.toml then loads as a key of the name they
// chose (zzzz's secret under the name zzz), and zzzz.toml itself is refused as holding the same
// secret, so hypd revoke, status and the logs know root's key by the user's name. Root's other
// keys, listed before it, give the user time between the listing and the lstat.
func TestLoadKeysRefusesAnotherUsersEntryThatComesAndGoes(t *testing.T) {
	needs.Root(t, "entries owned by another user in a root-owned sticky keys directory")
	keys := filepath.Join(t.TempDir(), "keys")
	names := []string{"zzzz"}
	for i := range 40 {
		names = append(names, fmt.Sprintf("k%02d", i))
	}
	_ = stage(t, keys, names...)
	must(t, os.Chmod(keys, os.ModeSticky|0o777))
	// What the other user does, done here for speed: each step is one they may take in a sticky
	// directory (create and rename or remove an entry of their own). The link is theirs before
	// it has its name, so a lstat that finds it always sees their uid.
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tmp, name := filepath.Join(keys, ".zzz"), filepath.Join(keys, "zzz.toml")
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = os.Symlink("zzzz.toml", tmp)
			_ = os.Lchown(tmp, 65534, 65534)
			_ = os.Rename(tmp, name)
			time.Sleep(20 * time.Microsecond) // long enough for an open and its checks
			_ = os.Remove(name)
		}
	}()
	defer func() { close(stop); <-done }()
	deadline := time.Now().Add(5 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		got, _ := LoadKeys(keys, daemonDefaults())
		for _, k := range got {
			if k.Name == "zzz" {
				t.Fatalf("load %d: loaded key %q (%s) through another user's entry, with root's zzzz.toml secret; want it refused", n, k.Name, k.Path)
			}
		}
	}
}

// The keys directory itself is checked (root's, nobody else may write it), but not the way to
// it: a directory on the path that another user owns lets that user point the path at another
// root-owned directory, such as last release's key set with a key since revoked. Here hypd's
// keys path is /srv/hyp/current (a release layout), and /srv/hyp is a deploy user's: the user
// renames a link of their own over current, to the old release; root's keys directory there
// loads, revoked key and all.
func TestLoadKeysRefusesAKeysPathThroughADirectoryAnotherUserOwns(t *testing.T) {
	needRootForChown(t)
	srv := filepath.Join(t.TempDir(), "hyp")
	must(t, os.Mkdir(srv, 0o755))
	old := stage(t, filepath.Join(srv, "r1"), "alice", "bob") // alice revoked in r2
	_ = stage(t, filepath.Join(srv, "r2"), "bob")
	must(t, os.Symlink("r2", filepath.Join(srv, "current")))
	must(t, os.Chown(srv, 65534, 65534)) // the deploy user's directory
	keys := filepath.Join(srv, "current")
	// What the deploy user can do in a directory of theirs: swap current to r1.
	must(t, os.Symlink("r1", filepath.Join(srv, "current.new")))
	must(t, os.Lchown(filepath.Join(srv, "current.new"), 65534, 65534))
	must(t, os.Rename(filepath.Join(srv, "current.new"), keys))
	got, problems := LoadKeys(keys, daemonDefaults())
	if len(got) != 0 {
		t.Errorf("loaded %v through %s, a directory uid 65534 owns (the revoked set %v is back); want the keys path refused", loaded(got), srv, old)
	}
	if len(problems) == 0 {
		t.Errorf("no problem reported for a keys path through a directory uid 65534 owns")
	}
}

// The config file is checked (root's, nobody else may write it), but not the directory that
// names it: in a directory another user owns, that user cannot edit root's hypd.toml, but can
// rename another root-owned file over it, such as the copy a package manager or an editor kept
// of an older config that listed the service as public. hypd then un-hides it.
func TestLoadRefusesAConfigInADirectoryAnotherUserOwns(t *testing.T) {
	needRootForChown(t)
	dir := filepath.Join(t.TempDir(), "hyp")
	must(t, os.Mkdir(dir, 0o755))
	writeFile(t, dir, "hypd.toml", "services = [\"tcp/22\"]\n", 0o600)
	writeFile(t, dir, "hypd.toml.dpkg-old", "services = [\"tcp/443\"]\npublic = [\"tcp/22\"]\n", 0o600)
	must(t, os.Chown(dir, 65534, 65534)) // as after a careless chown -R
	// What uid 65534 can do in a directory of theirs, with no right to either file.
	must(t, os.Rename(filepath.Join(dir, "hypd.toml.dpkg-old"), filepath.Join(dir, "hypd.toml")))
	c, err := Load(filepath.Join(dir, "hypd.toml"))
	if err == nil {
		t.Errorf("loaded a config (public %v) from %s, a directory uid 65534 owns; want it refused", c.Public, dir)
	}
}
