package gateway

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/daemon/protected"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

var quietStateLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// stateDirsTop makes a root-owned 0700 directory to hold state directories: the way to it (the
// test's temporary directory) is root's.
func stateDirsTop(t *testing.T) string {
	t.Helper()
	needs.Root(t, "judges state directories by owner and chowns them to another user")
	top := filepath.Join(t.TempDir(), "top")
	if err := os.Mkdir(top, 0o700); err != nil {
		t.Fatal(err)
	}
	return top
}

func mkdirOwned(t *testing.T, dir string, uid int) {
	t.Helper()
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
}

// dirEntries lists what dir holds.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	return out
}

// A FIFO as protection.json (another user's state directory, named by a refused hypd.toml) is
// refused at once: a plain read blocked until someone wrote it, with the instance lock held and
// nothing hidden. It is not damage: it stays where it is.
func TestProtectionFIFOIsRefusedAtOnce(t *testing.T) {
	top := stateDirsTop(t)
	theirs := filepath.Join(top, "theirs")
	mkdirOwned(t, theirs, 65534)
	fifo := filepath.Join(theirs, protectionFile)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := loadProtection(theirs)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("loadProtection of a FIFO = %v; want refused as not a regular file", err)
		}
		var damaged *damagedError
		if errors.As(err, &damaged) {
			t.Errorf("a FIFO was judged damaged (it would be moved aside): %v", err)
		}
	case <-time.After(10 * time.Second):
		// Unblock the reader so the test ends.
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("loadProtection of a FIFO blocked")
	}
	if p := readLastProtection(quietStateLog, theirs); p != nil {
		t.Errorf("readLastProtection of a FIFO = %+v", p)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode().Type() != os.ModeNamedPipe {
		t.Errorf("the FIFO after readLastProtection: %v, %v; want it left in place", fi, err)
	}
}

// A protection.json larger than hypd ever writes is read no further than the bound: a sparse
// file of a tebibyte (no disk needed) would otherwise be allocated whole. In root's own
// directory it is damaged and moved aside; in another user's it is left where it is.
func TestProtectionOversizeIsDamaged(t *testing.T) {
	top := stateDirsTop(t)
	mine, theirs := filepath.Join(top, "mine"), filepath.Join(top, "theirs")
	mkdirOwned(t, mine, 0)
	mkdirOwned(t, theirs, 65534)
	for _, dir := range []string{mine, theirs} {
		f, err := os.OpenFile(filepath.Join(dir, protectionFile), os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(1 << 40); err != nil {
			t.Fatal(err)
		}
		f.Close()
		_, _, err = loadProtection(dir)
		var damaged *damagedError
		if !errors.As(err, &damaged) || !strings.Contains(err.Error(), "more than hypd ever writes") {
			t.Errorf("loadProtection of a 1 TiB file in %s = %v; want damaged, too large", dir, err)
		}
		if p := readLastProtection(quietStateLog, dir); p != nil {
			t.Errorf("readLastProtection of a 1 TiB file = %+v", p)
		}
	}
	// Just over the bound, written out: read to the bound and no further.
	big := filepath.Join(top, "big")
	mkdirOwned(t, big, 0)
	if err := os.WriteFile(filepath.Join(big, protectionFile), make([]byte, maxProtectionFile+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := loadProtection(big); err == nil || !strings.Contains(err.Error(), "more than hypd ever writes") {
		t.Errorf("loadProtection of %d bytes = %v; want too large", maxProtectionFile+1, err)
	}
	if got := dirEntries(t, mine); len(got) != 1 || !strings.HasPrefix(got[0], protectionFile+".damaged-") {
		t.Errorf("root's directory holds %v; want the oversize file moved aside", got)
	}
	if got := dirEntries(t, theirs); len(got) != 1 || got[0] != protectionFile {
		t.Errorf("the other user's directory holds %v; want their file left in place", got)
	}
}

// A symlink as protection.json is not followed, whoever's directory it is in: it is not what
// hypd writes, and what it points at (root's real protection) must not be moved aside.
func TestProtectionSymlinkIsNotFollowed(t *testing.T) {
	top := stateDirsTop(t)
	real, theirs := filepath.Join(top, "real"), filepath.Join(top, "theirs")
	mkdirOwned(t, real, 0)
	mkdirOwned(t, theirs, 65534)
	if err := os.WriteFile(filepath.Join(real, "other.json"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{real, theirs} {
		link := filepath.Join(dir, protectionFile)
		if err := os.Symlink(filepath.Join(real, "other.json"), link); err != nil {
			t.Fatal(err)
		}
		if _, _, err := loadProtection(dir); err == nil || !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("loadProtection of a symlink in %s = %v; want refused", dir, err)
		}
		readLastProtection(quietStateLog, dir)
		if fi, err := os.Lstat(link); err != nil || fi.Mode().Type() != os.ModeSymlink {
			t.Errorf("the symlink in %s: %v, %v; want it left in place", dir, fi, err)
		}
	}
	if b, err := os.ReadFile(filepath.Join(real, "other.json")); err != nil || string(b) != "x" {
		t.Errorf("the file the symlinks point at: %q, %v", b, err)
	}
}

// The fifth attacker review: the user whose directory a refused hypd.toml names swaps it for a
// symlink to root's state directory while hypd reads it. What hypd reads and moves aside is in
// the directory it opened; in the user's it moves nothing, and root's protection stays.
func TestProtectionDirectorySwap(t *testing.T) {
	top := stateDirsTop(t)
	real := filepath.Join(top, "real")
	mkdirOwned(t, real, 0)
	ssh := protected.Service{Proto: "tcp", Port: 22}
	if err := saveProtection(real, Protection{Protected: []protected.Service{ssh}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		uid  int
	}{{"theirs", 65534}, {"roots", 0}} {
		dir := filepath.Join(top, tc.name)
		mkdirOwned(t, dir, tc.uid)
		if err := os.WriteFile(filepath.Join(dir, protectionFile), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(filepath.Join(dir, protectionFile), tc.uid, tc.uid); err != nil {
			t.Fatal(err)
		}
		d, err := openStateDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir, dir+".old"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(real, dir); err != nil {
			t.Fatal(err)
		}
		_, _, err = d.load()
		var damaged *damagedError
		if !errors.As(err, &damaged) {
			t.Errorf("%s: load after the swap = %v; want the opened directory's damaged file", tc.name, err)
		}
		aside, merr := d.moveAside(time.Now())
		d.Close()
		if tc.uid != 0 {
			if merr == nil || !strings.Contains(merr.Error(), "owned by uid 65534") {
				t.Errorf("%s: moveAside = %q, %v; want refused, the directory is another user's", tc.name, aside, merr)
			}
			if got := dirEntries(t, dir+".old"); len(got) != 1 || got[0] != protectionFile {
				t.Errorf("%s: the user's directory holds %v; want their file left", tc.name, got)
			}
		} else {
			if merr != nil || filepath.Dir(aside) != dir {
				t.Errorf("%s: moveAside = %q, %v; want moved in the opened directory", tc.name, aside, merr)
			}
			if got := dirEntries(t, dir+".old"); len(got) != 1 || !strings.HasPrefix(got[0], protectionFile+".damaged-") {
				t.Errorf("%s: the opened directory holds %v; want its file moved aside there", tc.name, got)
			}
		}
		if p, ok, err := loadProtection(real); err != nil || !ok || len(p.Protected) != 1 {
			t.Fatalf("%s: root's protection after the swap: %+v, %v, %v; want it in place", tc.name, p, ok, err)
		}
		if got := dirEntries(t, real); len(got) != 1 {
			t.Errorf("%s: root's state directory holds %v", tc.name, got)
		}
	}
}

// Who could have chosen the directory counts as much as who owns it: a root-owned directory
// under another user's (they can rename it away and put another of root's there), a symlink
// another user owns on the way, and a directory group or others may write are untrusted; a
// symlink of root's in root's directories is root's choice and followed.
func TestStateDirWay(t *testing.T) {
	top := stateDirsTop(t)
	home := filepath.Join(top, "home")
	mkdirOwned(t, home, 65534)
	under := filepath.Join(home, "st")
	mkdirOwned(t, under, 0)
	real := filepath.Join(top, "real")
	mkdirOwned(t, real, 0)
	shared := filepath.Join(top, "shared")
	mkdirOwned(t, shared, 0)
	if err := os.Chmod(shared, 0o777); err != nil {
		t.Fatal(err)
	}
	rootLink := filepath.Join(top, "rootlink")
	if err := os.Symlink("real", rootLink); err != nil {
		t.Fatal(err)
	}
	theirLink := filepath.Join(top, "theirlink")
	if err := os.Symlink(real, theirLink); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(theirLink, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{under, real, shared, rootLink, theirLink} {
		if err := saveProtection(dir, Protection{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ dir, want string }{
		{real, ""},
		{rootLink, ""},
		{filepath.Join(rootLink, "..", "real"), ""},
		{under, "directory " + home + " is owned by uid 65534"},
		{theirLink, "symlink " + theirLink + " on the way is owned by uid 65534"},
		{shared, "has mode 0777"},
	} {
		d, err := openStateDir(tc.dir)
		if err != nil {
			t.Fatalf("openStateDir(%s): %v", tc.dir, err)
		}
		if _, ok, err := d.load(); !ok || err != nil {
			t.Errorf("load in %s = %v, %v; want read whoever could have written it", tc.dir, ok, err)
		}
		got := d.trustProblem()
		d.Close()
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("trustProblem of %s = %q; want %q", tc.dir, got, tc.want)
		}
	}
	// A FIFO (or a device) where the directory should be is refused, without waiting on it.
	fifo := filepath.Join(top, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		d, err := openStateDir(fifo)
		if err == nil {
			d.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ENOTDIR) {
			t.Errorf("openStateDir of a FIFO = %v; want not a directory", err)
		}
	case <-time.After(10 * time.Second):
		if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		t.Fatal("openStateDir of a FIFO blocked")
	}
	if _, err := openStateDir(filepath.Join(top, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("openStateDir of a missing directory = %v; want not exist", err)
	}
}

// The bound holds every protection hypd can write, with room (twice at least): each service of
// both protocols.
func TestProtectionFileBound(t *testing.T) {
	var all []protected.Service
	for _, proto := range []string{"tcp", "udp"} {
		for port := 1; port <= 65535; port++ {
			all = append(all, protected.Service{Proto: proto, Port: uint16(port)})
		}
	}
	dir := t.TempDir()
	if err := saveProtection(dir, Protection{Protected: all, Stealth: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, protectionFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size()*2 > maxProtectionFile {
		t.Errorf("every service saved takes %d bytes; the bound %d is not twice that", fi.Size(), maxProtectionFile)
	}
	t.Logf("every service saved: %d bytes, bound %d", fi.Size(), maxProtectionFile)
	if p, ok, err := loadProtection(dir); err != nil || !ok || len(p.Protected) != len(all) {
		t.Errorf("loading every service: %d, %v, %v", len(p.Protected), ok, err)
	}
}
