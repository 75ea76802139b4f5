//go:build linux

package gateway

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

func TestLockIsOnePerTable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lock")
	table := "locktest"
	l, err := acquireLock(dir, table)
	if err != nil {
		t.Fatal(err)
	}
	pid, held, err := lockHolder(dir, table)
	if err != nil || !held || pid != os.Getpid() {
		t.Errorf("lockHolder = %d, %v, %v; want this process (%d)", pid, held, err, os.Getpid())
	}
	_, err = acquireLock(dir, table)
	var re *RunningError
	if !errors.As(err, &re) || re.PID != os.Getpid() {
		t.Fatalf("second acquireLock = %v; want a RunningError naming pid %d", err, os.Getpid())
	}
	other, err := acquireLock(dir, table+"-other")
	if err != nil {
		t.Fatalf("a lock for another table: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Error(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, held, err := lockHolder(dir, table); held || err != nil {
		t.Errorf("after Close: held %v, %v", held, err)
	}
	if path, _ := lockPath(dir, table); fileExists(path) {
		t.Errorf("Close left the lock file %s", path)
	}
	again, err := acquireLock(dir, table)
	if err != nil {
		t.Fatalf("acquireLock after Close: %v", err)
	}
	again.Close()
}

// The lock an unprivileged user could squat before (issue #18: `setpriv --reuid=65534 socat
// ABSTRACT-LISTEN:hyp/hypd/hyp`) is gone: nobody but root can create or lock anything where the
// lock lives, and the abstract name no longer means anything to hypd.
func TestUnprivilegedUserCannotHoldTheLock(t *testing.T) {
	needs.Root(t, "runs socat and flock as another user")
	dir := filepath.Join(t.TempDir(), "lock")
	if err := lockDir(dir); err != nil {
		t.Fatal(err)
	}
	path, err := lockPath(dir, "squat")
	if err != nil {
		t.Fatal(err)
	}
	// As nobody: create the lock file, or flock it if it exists.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "flock", "-n", path, "true")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("nobody could flock %s: %s", path, out)
	}
	// The old attack: an abstract socket of the old name held by nobody.
	ln, err := listenAbstractAs(t, "@hyp/hypd/squat")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Process.Kill()
	l, err := acquireLock(dir, "squat")
	if err != nil {
		t.Fatalf("the lock with the old abstract name squatted: %v", err)
	}
	l.Close()
}

// listenAbstractAs starts socat as nobody listening on the abstract name.
func listenAbstractAs(t *testing.T, name string) (*exec.Cmd, error) {
	cmd := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
		"socat", "ABSTRACT-LISTEN:"+strings.TrimPrefix(name, "@")+",fork", "/dev/null")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, nil
}

func TestLockDirMustBeRootsAlone(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lock")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := acquireLock(dir, "x")
	if err == nil || !strings.Contains(err.Error(), "root's alone") {
		t.Fatalf("acquireLock in a world-writable directory = %v; want a refusal naming the fix", err)
	}
}

func TestVerifiedHolderNamesTheKernelsHolder(t *testing.T) {
	// Only the default directory is used by VerifiedHolder; a table name of its own keeps the
	// test apart from a real hypd.
	needs.Root(t, "the lock lives in root's /run/hyp/lock")
	table := "hyp-verifytest"
	if _, _, err := VerifiedHolder(table); err == nil {
		t.Fatal("VerifiedHolder with no hypd running succeeded")
	}
	l, err := AcquireLock(table)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pid, fd, err := VerifiedHolder(table)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if pid != os.Getpid() {
		t.Errorf("VerifiedHolder pid %d, want %d", pid, os.Getpid())
	}
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// A hypd that opened the lock file just before its holder removed it and let go gets the flock
// on a file no longer at the path: it must not count as the lock.
func TestLockOnARemovedFileIsNotTheLock(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lock")
	first, err := acquireLock(dir, "race")
	if err != nil {
		t.Fatal(err)
	}
	path, _ := lockPath(dir, "race")
	stale, err := os.Open(path) // the waiter's descriptor, opened before the holder lets go
	if err != nil {
		t.Fatal(err)
	}
	defer stale.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(stale.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock on the removed file: %v", err)
	}
	// The waiter holds a flock on the removed file; a new hypd must still get the real lock.
	second, err := acquireLock(dir, "race")
	if err != nil {
		t.Fatalf("a flock on a removed file blocked the next hypd: %v", err)
	}
	defer second.Close()
	if _, err := acquireLock(dir, "race"); err == nil {
		t.Fatal("two hypds hold the lock")
	}
}
