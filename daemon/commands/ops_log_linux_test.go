//go:build linux

package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// F4 of the attacker review: hypd start appends, as root, to the --log path. A symlink there, a
// file another user owns, or a directory others can write into would let them choose what root
// appends to; each is refused before anything runs, and nothing is written.
func TestStartRefusesAnUnsafeLog(t *testing.T) {
	o := newOpsLab(t, 123)
	o.writeConf(`services = ["tcp/2222"]`)
	start := func(log string) (string, int) {
		return o.run("start", "--config", o.conf, "--socket", o.sock, "--log", log, "--wait", "20s")
	}
	notRunning := func(what string) {
		t.Helper()
		if out, code := o.run("service-status"); code != exitNotRunning {
			t.Fatalf("%s: hypd runs after a refused start: exit %d: %s", what, code, out)
		}
	}

	// A symlink at the log path: refused, its target untouched.
	logDir := filepath.Join(o.dir, "log")
	if err := os.Mkdir(logDir, 0o750); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(o.dir, "precious")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(logDir, "hypd.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	out, code := start(link)
	if code == 0 || !strings.Contains(out, "symbolic link") {
		t.Fatalf("start with a symlinked log: exit %d: %s", code, out)
	}
	if b, _ := os.ReadFile(target); string(b) != "precious\n" {
		t.Fatalf("the symlink's target was written: %q", b)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o600 {
		t.Fatalf("the symlink's target's mode changed to %v", fi.Mode())
	}
	notRunning("symlinked log")

	// A log file another user owns: refused, untouched.
	os.Remove(link)
	if err := os.WriteFile(link, []byte("theirs\n"), 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(link, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	out, code = start(link)
	if code == 0 || !strings.Contains(out, "owned by uid 65534") {
		t.Fatalf("start with another user's log file: exit %d: %s", code, out)
	}
	if b, _ := os.ReadFile(link); string(b) != "theirs\n" {
		t.Fatalf("another user's log file was written: %q", b)
	}
	notRunning("another user's log")

	// A log in a directory others can write into: refused, naming the directory.
	open := filepath.Join(o.dir, "open")
	if err := os.Mkdir(open, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o777); err != nil { // past the umask
		t.Fatal(err)
	}
	out, code = start(filepath.Join(open, "hypd.log"))
	if code == 0 || !strings.Contains(out, "its directory "+open) || !strings.Contains(out, "chmod go-w "+open) {
		t.Fatalf("start with a log in a world-writable directory: exit %d: %s", code, out)
	}
	if _, err := os.Lstat(filepath.Join(open, "hypd.log")); err == nil {
		t.Fatal("a log was created in the world-writable directory")
	}
	notRunning("log in a world-writable directory")

	// A log of root's in a root-owned sticky directory is fine, and made 0640.
	sticky := filepath.Join(o.dir, "sticky")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, 0o777|os.ModeSticky); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(sticky, "hypd.log")
	if err := os.WriteFile(good, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(good, 0o666); err != nil {
		t.Fatal(err)
	}
	o.log = good // the lab's cleanup shows it
	out, code = start(good)
	mustHave(t, "start with a log in a sticky root directory", out, code, 0, "started hypd (pid")
	if fi, err := os.Stat(good); err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("log mode after start: %v, %v; want 0640", fi.Mode(), err)
	}
}
