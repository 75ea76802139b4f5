package helper

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kardianos/service"

	"github.com/hideyourports/hyp/app/helper/perm"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// copyExe writes a stand-in executable into dir, owned by root, mode 0755.
func copyExe(t *testing.T, dir string) string {
	t.Helper()
	exe := filepath.Join(dir, "hyp")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return exe
}

// runDir is a fresh root-owned 0755 directory under /run (root's, 0755 all
// the way up), unlike t.TempDir, which /tmp makes writable by everyone.
func runDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/run", "hyp-exe-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// cleanSysV removes what an install on a host without systemd would have
// written for name (the old code did), so a failing run leaves nothing.
func cleanSysV(t *testing.T, name string) {
	t.Cleanup(func() {
		links, _ := filepath.Glob("/etc/rc?.d/[SK][0-9][0-9]" + name)
		for _, l := range append(links, "/etc/init.d/"+name, "/etc/systemd/system/"+name+".service") {
			if os.Remove(l) == nil {
				t.Errorf("the test's install wrote %s (removed now)", l)
			}
		}
	})
}

// TestInstallRefusesExecutableOthersCanWrite: `hyp helper install` makes
// the binary that ran it the root service, so a binary anyone but root can
// replace (in /tmp, in a user's directory, under a group-writable directory,
// or reached through a link to one) is refused, naming the path and the fix,
// before anything is installed. A root-only one passes the check.
func TestInstallRefusesExecutableOthersCanWrite(t *testing.T) {
	needs.Root(t, "makes root-owned and nobody-owned directories")
	name := fmt.Sprintf("hyp-helper-test-%d", os.Getpid())
	cleanSysV(t, name)

	userDir := filepath.Join(runDir(t), "home")
	groupDir := filepath.Join(runDir(t), "shared")
	linkDir := runDir(t)
	for _, d := range []string{userDir, groupDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(userDir, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(groupDir, 0, 65534); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(groupDir, 0o775); err != nil {
		t.Fatal(err)
	}
	tmpExe := copyExe(t, t.TempDir())
	if err := os.Symlink(tmpExe, filepath.Join(linkDir, "hyp")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, exe, want string }{
		{"in /tmp", tmpExe, "is writable by everyone"},
		{"in a user's directory", copyExe(t, userDir), userDir + " is owned by uid 65534, not root"},
		{"under a group-writable directory", copyExe(t, groupDir), groupDir + " is writable by group 65534"},
		{"through a link", filepath.Join(linkDir, "hyp"), "would run " + tmpExe + " as root"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Control(Config{Name: name, Executable: c.exe}, "install", func(string) {})
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "sudo install -m 0755") {
				t.Fatalf("install of %s: %v (want an error with %q and the fix)", c.exe, err, c.want)
			}
		})
	}
	if err := perm.CheckExecutable(copyExe(t, runDir(t)), nil); err != nil {
		t.Fatalf("a root-only executable: %v", err)
	}
	if err := perm.CheckExecutable("/bin/sh", nil); err != nil {
		t.Fatalf("/bin/sh: %v", err)
	}
}

// TestNoSystemdRefuses: on a Linux host without systemd, install, start,
// stop and restart refuse, saying to run 'hyp helper run' from the init
// system, and write nothing (kardianos wrote SysV scripts whose start said
// done and whose status said running while the helper had exited). On this
// host, when it has no systemd, the real Control is run too.
func TestNoSystemdRefuses(t *testing.T) {
	root := t.TempDir()
	cfg := Config{Name: "hyp-helper-test", Executable: "/bin/sh"}
	for _, action := range []string{"install", "start", "stop", "restart"} {
		err := controlOn(cfg, action, nil, "unix-systemv", root)
		if err == nil || !strings.Contains(err.Error(), "does not run systemd") || !strings.Contains(err.Error(), "hyp helper run") {
			t.Errorf("%s without systemd: %v", action, err)
		}
	}
	if ents, _ := os.ReadDir(root); len(ents) != 0 {
		t.Errorf("a refused action wrote %v", ents)
	}
	if _, err := statusOn(cfg, "unix-systemv", root); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("status without systemd and nothing installed: %v", err)
	}
	if sys := service.ChosenSystem().String(); sys == systemdName || os.Geteuid() != 0 {
		t.Logf("this host runs %s (euid %d): the real Control is not tried", sys, os.Geteuid())
		return
	}
	name := fmt.Sprintf("hyp-helper-test-%d", os.Getpid())
	cleanSysV(t, name)
	err := Control(Config{Name: name, Executable: "/bin/sh"}, "install", func(string) {})
	if err == nil || !strings.Contains(err.Error(), "does not run systemd") {
		t.Fatalf("install on this host without systemd: %v", err)
	}
	if _, err := Status(Config{Name: name}); !errors.Is(err, ErrNotInstalled) {
		t.Fatalf("status on this host without systemd: %v", err)
	}
}

// TestSysVLeftoversUninstalled: an older hyp's SysV install (the init script
// and kardianos' rc links) is reported by status as not running and not
// managed, and uninstall removes the script and every rc link to it, but no
// other link.
func TestSysVLeftoversUninstalled(t *testing.T) {
	root := t.TempDir()
	name := "hyp-helper"
	script := filepath.Join(root, "etc", "init.d", name)
	if err := os.MkdirAll(filepath.Dir(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ours []string
	for _, l := range []string{"rc2.d/S50", "rc3.d/S50", "rc4.d/S50", "rc5.d/S50", "rc0.d/K02", "rc1.d/K02", "rc6.d/K02"} {
		link := filepath.Join(root, "etc", l+name)
		os.MkdirAll(filepath.Dir(link), 0o755)
		if err := os.Symlink("/etc/init.d/"+name, link); err != nil {
			t.Fatal(err)
		}
		ours = append(ours, link)
	}
	other := filepath.Join(root, "etc", "rc2.d", "S01ssh")
	if err := os.Symlink("/etc/init.d/ssh", other); err != nil {
		t.Fatal(err)
	}
	st, err := statusOn(Config{}, "unix-systemv", root)
	if err != nil || st.Running || !strings.Contains(st.Text, "older hyp") {
		t.Fatalf("status with SysV leftovers: %+v %v", st, err)
	}
	if err := controlOn(Config{}, "uninstall", nil, "unix-systemv", root); err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	for _, p := range append(ours, script) {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s outlived the uninstall", p)
		}
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("uninstall removed another service's link: %v", err)
	}
	if err := controlOn(Config{}, "uninstall", nil, "unix-systemv", root); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("a second uninstall: %v", err)
	}
	if _, err := statusOn(Config{}, "unix-systemv", root); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("status after the uninstall: %v", err)
	}
}
