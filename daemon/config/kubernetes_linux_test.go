//go:build linux

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
	"golang.org/x/sys/unix"
)

// A Kubernetes secret volume still loads: the mount is a read-only, root-owned sticky directory
// (drwxrwxrwt root root) of root's symlinks into ..data, itself a symlink to a timestamped
// directory (0755) holding the files (defaultMode 0600). What another user planted in such a
// directory is refused. The same directory on a mount that can be written is refused as a
// whole: anyone may add entries there, and keep the watch busy (the third attacker review).
func TestKubernetesSecretVolumeLoads(t *testing.T) {
	needs.Root(t, "mounts a tmpfs, makes a root-owned sticky directory and chowns a symlink")
	dir := filepath.Join(t.TempDir(), "keys")
	must(t, os.Mkdir(dir, 0o700))
	must(t, unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0700,size=1m"))
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	ts := filepath.Join(dir, "..2026_12_05_17_40_00.123456789")
	must(t, os.Mkdir(ts, 0o755))
	must(t, os.Chmod(ts, 0o755))
	writeKeyFile(t, filepath.Join(ts, "laptop.toml"))
	must(t, os.Symlink(filepath.Base(ts), filepath.Join(dir, "..data")))
	must(t, os.Symlink("..data/laptop.toml", filepath.Join(dir, "laptop.toml")))
	// Another user's symlink in the sticky directory, to a root-owned key file elsewhere, made
	// before the mount turns read-only.
	other := filepath.Join(t.TempDir(), "other.toml")
	writeKeyFile(t, other)
	planted := filepath.Join(dir, "planted.toml")
	must(t, os.Symlink(other, planted))
	must(t, os.Lchown(planted, 65534, 65534))
	must(t, os.Chmod(dir, 0o777|os.ModeSticky))

	keys, problems := LoadKeys(dir, Default())
	if len(keys) != 0 || len(problems) != 1 || !strings.Contains(problems[0].Error(), "not on a read-only mount") || !strings.Contains(problems[0].Error(), "chmod go-w "+dir) {
		t.Fatalf("keys %v, problems %v; want the sticky directory on a writable mount refused", names(keys), problems)
	}
	if err := CheckKeysDir(dir); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("CheckKeysDir: %v; want the writable sticky directory refused", err)
	}

	must(t, unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, ""))
	keys, problems = LoadKeys(dir, Default())
	if len(keys) != 1 || keys[0].Name != "laptop" {
		t.Fatalf("keys %v, problems %v; want laptop alone", names(keys), problems)
	}
	if len(problems) != 1 || !strings.Contains(problems[0].Error(), planted) || !strings.Contains(problems[0].Error(), "owned by uid 65534") {
		t.Fatalf("problems %v; want the planted symlink refused", problems)
	}
	if err := CheckKeysDir(dir); err != nil {
		t.Fatalf("CheckKeysDir of the read-only volume: %v", err)
	}
}

// In a sticky keys directory, the entry opened and each link on its way are judged as found
// after the open: another user's link there, to root's key file, is refused when it is what
// was opened, whatever the lstat before the open saw (the third attacker review).
func TestStickyEntryIsJudgedAfterTheOpen(t *testing.T) {
	needs.Root(t, "chowns a symlink to another user")
	dir := filepath.Join(t.TempDir(), "keys")
	must(t, os.Mkdir(dir, 0o700))
	writeKeyFile(t, filepath.Join(dir, "zzzz.toml"))
	theirs := filepath.Join(dir, "zzz.toml")
	must(t, os.Symlink("zzzz.toml", theirs))
	must(t, os.Lchown(theirs, 65534, 65534))
	if _, err := loadEntry(theirs, Default(), true); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("loadEntry of another user's link in a sticky directory: %v; want it refused", err)
	}
	// Root's link to it is refused for the user's link on its way.
	via := filepath.Join(dir, "via.toml")
	must(t, os.Symlink("zzz.toml", via))
	if _, err := loadEntry(via, Default(), true); err == nil || !strings.Contains(err.Error(), "symlink "+theirs) {
		t.Fatalf("loadEntry through another user's link: %v; want it refused naming %s", err, theirs)
	}
	if _, err := loadEntry(filepath.Join(dir, "zzzz.toml"), Default(), true); err != nil {
		t.Fatalf("root's own key file: %v", err)
	}
}
