//go:build linux

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// The way to hypd.toml and to the keys directory is judged as sshd's StrictModes judges it:
// each directory above the target and each one holding a symlink on the way must be root's and
// not writable by group or others, unless root's and sticky (as /tmp), where the links on the
// way must be root's (the third attacker review).
func TestTheWayToConfigAndKeysIsRoots(t *testing.T) {
	needs.Root(t, "chowns directories and links to another user")
	for _, c := range []struct {
		name string
		// setup makes base/etc/hyp.toml, base/etc/keys, and returns what to spoil, if anything.
		setup func(t *testing.T, base string)
		want  string // "" loads; else in both errors
		fix   string
	}{
		{"all root's", func(*testing.T, string) {}, "", ""},
		{"a group-writable directory above", func(t *testing.T, base string) {
			must(t, os.Chmod(filepath.Join(base, "etc"), 0o775))
		}, "mode 0775", "chmod go-w "},
		{"another user's directory above", func(t *testing.T, base string) {
			must(t, os.Chown(filepath.Join(base, "etc"), 65534, 65534))
		}, "owned by uid 65534", "chown root "},
		{"a root-owned sticky directory above", func(t *testing.T, base string) {
			must(t, os.Chmod(filepath.Join(base, "etc"), 0o777|os.ModeSticky))
		}, "", ""},
		{"another user's sticky directory above", func(t *testing.T, base string) {
			must(t, os.Chmod(filepath.Join(base, "etc"), 0o777|os.ModeSticky))
			must(t, os.Chown(filepath.Join(base, "etc"), 65534, 65534))
		}, "owned by uid 65534", "chown root "},
	} {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			base := t.TempDir()
			etc := filepath.Join(base, "etc")
			must(t, os.Mkdir(etc, 0o755))
			must(t, os.Chmod(etc, 0o755))
			writeFile(t, etc, "hypd.toml", "services = [\"tcp/22\"]\n", 0o600)
			keys := filepath.Join(etc, "keys")
			_ = stage(t, keys, "alice")
			c.setup(t, base)
			_, err := Load(filepath.Join(etc, "hypd.toml"))
			got, problems := LoadKeys(keys, daemonDefaults())
			if c.want == "" {
				if err != nil || len(problems) != 0 || len(got) != 1 {
					t.Fatalf("Load: %v; LoadKeys %v, problems %v; want both to load", err, loaded(got), problems)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), etc) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), c.fix+etc) {
				t.Errorf("Load: %v; want it refused naming %s, %q and %q", err, etc, c.want, c.fix+etc)
			}
			if len(got) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Error(), c.want) || !strings.Contains(problems[0].Error(), c.fix+etc) {
				t.Errorf("LoadKeys %v, problems %v; want the keys directory refused naming %q and %q", loaded(got), problems, c.want, c.fix+etc)
			}
		})
	}
}

// A symlink on the way that sits in a root-owned sticky directory must be root's: another user's
// link there is theirs to point elsewhere; root's is fine.
func TestALinkOnTheWayInAStickyDirectoryMustBeRoots(t *testing.T) {
	needs.Root(t, "chowns a link to another user")
	shared := filepath.Join(t.TempDir(), "shared")
	must(t, os.Mkdir(shared, 0o755))
	_ = stage(t, filepath.Join(shared, "r1"), "alice")
	must(t, os.Chmod(shared, 0o777|os.ModeSticky))
	link := filepath.Join(shared, "current")
	must(t, os.Symlink("r1", link))
	if got, problems := LoadKeys(link, daemonDefaults()); len(got) != 1 || len(problems) != 0 {
		t.Fatalf("through root's link: loaded %v, problems %v; want alice", loaded(got), problems)
	}
	must(t, os.Lchown(link, 65534, 65534))
	got, problems := LoadKeys(link, daemonDefaults())
	if len(got) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "symlink "+link) || !strings.Contains(problems[0].Error(), "chown -h root "+link) {
		t.Fatalf("through another user's link: loaded %v, problems %v; want it refused naming %s", loaded(got), problems, link)
	}
}

// The way is judged after the file or directory was opened or read: a part missing then changed
// in between (another user's entry on the way, gone for the check and back for the load), so it
// is a problem, not a pass.
func TestAWayThatWentMissingIsAProblem(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "gone")
	why := wayProblem(filepath.Join(gone, "keys"))
	if !strings.Contains(why, gone) || !strings.Contains(why, "went missing") {
		t.Fatalf("wayProblem of a missing way: %q; want it a problem naming %s", why, gone)
	}
}
