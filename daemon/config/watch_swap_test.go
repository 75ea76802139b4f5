//go:build linux

package config

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// stage writes a complete key set of new secrets into a new directory dir, as a configuration
// tool stages one before it swaps it in, and returns the keys as watchLoads records them.
func stage(t *testing.T, dir string, names ...string) []string {
	t.Helper()
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		k := newSecret(t)
		writeFile(t, dir, n+".toml", "secret = \""+k.Encode()+"\"\nservices = [\"tcp/22\"]\n", 0o600)
		out = append(out, n+":"+k.ID())
	}
	return out
}

// loaded is what watchLoads records of a key: its name and its secret's public ID, so that a
// rotated secret under the same name is a different set.
func loaded(keys []Key) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.Name+":"+k.Secret.ID())
	}
	return out
}

// watchLoads watches dir and, like the gateway, loads the keys after every signal, recording the
// names each load found (an empty entry is a load that found no key).
type watchLoads struct {
	t   *testing.T
	w   *Watcher
	dir string
	got chan []string

	mu    sync.Mutex // guards loads
	loads [][]string
}

func startWatch(t *testing.T, dir string) *watchLoads {
	w, err := Watch(dir, 30*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	l := &watchLoads{t: t, w: w, dir: dir, got: make(chan []string, 16)}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-w.Changed():
			}
			keys, _ := LoadKeys(dir, daemonDefaults())
			n := loaded(keys)
			l.mu.Lock()
			l.loads = append(l.loads, n)
			l.mu.Unlock()
			select {
			case l.got <- n:
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	return l
}

// next waits for one signal and checks the key set it loaded.
func (l *watchLoads) next(why string, want []string) {
	l.t.Helper()
	select {
	case got := <-l.got:
		if !slices.Equal(got, want) {
			l.t.Fatalf("%s: loaded %v; want %v", why, got, want)
		}
	case <-time.After(5 * time.Second):
		l.t.Fatalf("%s: no change signalled", why)
	}
}

// quiet checks that no further signal follows: a swap is one change.
func (l *watchLoads) quiet(why string) {
	l.t.Helper()
	select {
	case got := <-l.got:
		l.t.Fatalf("%s: a second change signalled (loaded %v); a swap is one change", why, got)
	case <-time.After(300 * time.Millisecond):
	}
}

// A keys directory replaced as a whole is one change, and the watch follows it to the new
// directory: a second swap and a plain edit after it are seen too. Four ways tools do it.
func TestWatcherFollowsADirectorySwap(t *testing.T) {
	for _, style := range []string{"symlink", "exchange", "two renames", "kubernetes ..data"} {
		t.Run(strings.ReplaceAll(style, " ", "_"), func(t *testing.T) {
			root := t.TempDir()
			keys := filepath.Join(root, "keys")
			gen := 0
			// swap installs a new generation holding names, the way style does.
			var swap func(names ...string) []string
			switch style {
			case "symlink":
				// keys -> keys.N; a new symlink renamed over it (Capistrano, ln -sfn + mv -T).
				_ = stage(t, keys+".0", "alice", "bob")
				if err := os.Symlink("keys.0", keys); err != nil {
					t.Fatal(err)
				}
				swap = func(names ...string) []string {
					gen++
					next := fmt.Sprintf("keys.%d", gen)
					set := stage(t, filepath.Join(root, next), names...)
					must(t, os.Symlink(next, keys+".tmp"))
					must(t, os.Rename(keys+".tmp", keys))
					return set
				}
			case "exchange":
				// renameat2(RENAME_EXCHANGE): mv --exchange keys.new keys, then drop the old.
				stage(t, keys, "alice", "bob")
				swap = func(names ...string) []string {
					set := stage(t, keys+".new", names...)
					must(t, unix.Renameat2(unix.AT_FDCWD, keys+".new", unix.AT_FDCWD, keys, unix.RENAME_EXCHANGE))
					must(t, os.RemoveAll(keys+".new"))
					return set
				}
			case "two renames":
				// mv keys keys.old && mv keys.new keys: for a moment there is no keys directory.
				stage(t, keys, "alice", "bob")
				swap = func(names ...string) []string {
					set := stage(t, keys+".new", names...)
					must(t, os.Rename(keys, keys+".old"))
					must(t, os.Rename(keys+".new", keys))
					must(t, os.RemoveAll(keys+".old"))
					return set
				}
			case "kubernetes ..data":
				// kubelet's AtomicWriter: files in ..TIMESTAMP, ..data -> ..TIMESTAMP, and
				// NAME.toml -> ..data/NAME.toml; a new ..data renamed over the old.
				must(t, os.Mkdir(keys, 0o700))
				stage(t, filepath.Join(keys, "..gen0"), "alice", "bob")
				must(t, os.Symlink("..gen0", filepath.Join(keys, "..data")))
				link := func(n string) {
					must(t, os.Symlink(filepath.Join("..data", n+".toml"), filepath.Join(keys, n+".toml")))
				}
				link("alice")
				link("bob")
				swap = func(names ...string) []string {
					gen++
					ts := fmt.Sprintf("..gen%d", gen)
					set := stage(t, filepath.Join(keys, ts), names...)
					must(t, os.Symlink(ts, filepath.Join(keys, "..data_tmp")))
					must(t, os.Rename(filepath.Join(keys, "..data_tmp"), filepath.Join(keys, "..data")))
					for _, n := range names {
						if _, err := os.Lstat(filepath.Join(keys, n+".toml")); err != nil {
							link(n)
						}
					}
					entries, _ := os.ReadDir(keys)
					for _, e := range entries {
						if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !slices.Contains(names, keyName(e.Name())) {
							must(t, os.Remove(filepath.Join(keys, e.Name())))
						}
					}
					must(t, os.RemoveAll(filepath.Join(keys, fmt.Sprintf("..gen%d", gen-1))))
					return set
				}
			}
			l := startWatch(t, keys)

			l.next("first swap", swap("alice", "carol"))
			l.quiet("first swap")
			// The swapped-in directory is watched, wherever it came from.
			set := swap("dave")
			l.next("second swap", set)
			l.quiet("second swap")
			// The same names with new secrets: a rotation, where no name comes or goes.
			set = swap("dave")
			l.next("rotation", set)
			l.quiet("rotation")
			if style != "kubernetes ..data" { // there the files are the volume's, not ours to write
				target, err := filepath.EvalSymlinks(keys)
				must(t, err)
				erin := newSecret(t)
				writeFile(t, target, "erin.toml", "secret = \""+erin.Encode()+"\"\nservices = [\"tcp/22\"]\n", 0o600)
				l.next("a key added after the swaps", append(set, "erin:"+erin.ID()))
			}
			l.mu.Lock()
			defer l.mu.Unlock()
			for i, n := range l.loads {
				if len(n) == 0 {
					t.Errorf("load %d after a signal found no keys: the swap was seen half done", i+1)
				}
			}
		})
	}
}

// A keys directory that is removed and stays away is a change after MissingGrace: the gateway
// then drops its keys (fails closed) rather than serve keys nobody has any more. When it comes
// back, that is a change too.
func TestWatcherSignalsADirectoryGoneForGood(t *testing.T) {
	root := t.TempDir()
	keys := filepath.Join(root, "keys")
	set := stage(t, keys, "alice")
	l := startWatch(t, keys)
	must(t, os.Rename(keys, keys+".old"))
	start := time.Now()
	l.next("directory gone", nil)
	if waited := time.Since(start); waited < MissingGrace {
		t.Errorf("a missing keys directory was signalled after %v, within the grace of %v a swap needs", waited, MissingGrace)
	}
	l.quiet("gone")
	must(t, os.Rename(keys+".old", keys))
	l.next("directory back", set)
}

// Changes beside the keys directory (hypd.toml in the same parent) are not key changes.
func TestWatcherIgnoresTheParentsOtherEntries(t *testing.T) {
	root := t.TempDir()
	keys := filepath.Join(root, "keys")
	stage(t, keys, "alice")
	l := startWatch(t, keys)
	writeFile(t, root, "hypd.toml", "skew = 1\n", 0o600)
	must(t, os.Rename(filepath.Join(root, "hypd.toml"), filepath.Join(root, "hypd2.toml")))
	l.quiet("hypd.toml beside the keys")
}
