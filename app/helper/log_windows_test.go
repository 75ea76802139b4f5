package helper

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestServiceLogRefusesLinks: SYSTEM opens helper.log in a folder a standard user may have made
// first. The folder gets the store's private ACL before the log is opened; a helper.log that is
// a hard or symbolic link to another file, or a folder link in place of ProgramData\hyp, is
// refused and the file it names is neither created nor written. A plain log is appended to, and started afresh
// once it has grown past its bound.
func TestServiceLogRefusesLinks(t *testing.T) {
	base := tempDir(t)
	victim := filepath.Join(base, "victim.txt")
	keep := []byte("a file SYSTEM must not touch\n")
	if err := os.WriteFile(victim, keep, 0o600); err != nil {
		t.Fatal(err)
	}

	// The log a hard link to another file (wine makes those; a user could, in a folder they
	// made first).
	hard := Config{Dir: filepath.Join(base, "hard", "helper")}
	if err := os.MkdirAll(filepath.Dir(logPath(hard)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(victim, logPath(hard)); err != nil {
		t.Fatalf("making a hard link: %v", err)
	}
	if f, err := OpenServiceLog(hard); err == nil {
		f.Write([]byte("written through the link\n"))
		f.Close()
		t.Error("a helper.log that is a hard link to another file was opened")
	} else if !strings.Contains(err.Error(), "hard links") {
		t.Errorf("a hard-linked helper.log: %v", err)
	}

	// The log a symbolic link, the log's folder a link to another folder: refused, nothing
	// created through them. (Wine 8's CreateSymbolicLink reports success and makes nothing;
	// there the hard link above carries the case.)
	linked := Config{Dir: filepath.Join(base, "linked", "helper")}
	if err := os.MkdirAll(filepath.Dir(logPath(linked)), 0o700); err != nil {
		t.Fatal(err)
	}
	elsewhere := filepath.Join(base, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o700); err != nil {
		t.Fatal(err)
	}
	jumped := Config{Dir: filepath.Join(base, "jumped", "helper")}
	links := 0
	for _, l := range []struct{ target, link string }{{victim, logPath(linked)}, {elsewhere, filepath.Dir(logPath(jumped))}} {
		if err := os.Symlink(l.target, l.link); err != nil {
			t.Fatalf("making a link: %v", err)
		}
		if _, err := os.Lstat(l.link); err != nil {
			t.Logf("this system made no link %s (%v)", l.link, err)
			continue
		}
		links++
		cfg := Config{Dir: filepath.Join(filepath.Dir(l.link), "helper")}
		if l.link == logPath(linked) {
			cfg = linked
		}
		if f, err := OpenServiceLog(cfg); err == nil {
			f.Close()
			t.Errorf("the log was opened through the link %s", l.link)
		} else {
			t.Logf("refused: %v", err)
		}
	}
	t.Logf("%d symbolic link(s) tried", links)
	if _, err := os.Lstat(filepath.Join(elsewhere, "helper.log")); !os.IsNotExist(err) {
		t.Fatalf("the log was created through the folder link: %v", err)
	}
	if b, err := os.ReadFile(victim); err != nil || !bytes.Equal(b, keep) {
		t.Fatalf("the linked file changed: %q %v", b, err)
	}

	// A plain log: appended to, then started afresh past maxLog.
	plain := Config{Dir: filepath.Join(base, "plain", "helper")}
	for _, line := range []string{"first\n", "second\n"} {
		f, err := OpenServiceLog(plain)
		if err != nil {
			t.Fatalf("opening a plain log: %v", err)
		}
		if _, err := f.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if b, _ := os.ReadFile(logPath(plain)); string(b) != "first\nsecond\n" {
		t.Fatalf("the log holds %q, want both lines appended", b)
	}
	if err := os.WriteFile(logPath(plain), bytes.Repeat([]byte("x"), maxLog+1), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := OpenServiceLog(plain)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("afresh\n"))
	f.Close()
	if b, _ := os.ReadFile(logPath(plain)); !strings.HasPrefix(string(b), "afresh") {
		t.Fatalf("an overgrown log was not started afresh: %d bytes", len(b))
	}
}
