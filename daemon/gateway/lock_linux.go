//go:build linux

package gateway

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultLockDir holds the instance locks. It is root's alone (0700 inside the unit's 0750
// runtime directory, which the unit preserves across restarts): a lock that any local user could
// take would let that user keep hypd from starting. The abstract unix socket hypd used before had
// exactly that flaw — abstract names have no permissions.
const DefaultLockDir = "/run/hyp/lock"

// Lock makes hypd one instance per network namespace and table. It is an flock(2) on a file
// named for both: the network namespace is the scope of the nftables table and the XDP
// attachments hypd owns, and the kernel releases an flock when the process dies however it
// dies, so a kill -9 leaves no stale lock behind. The kernel also says who holds it
// (/proc/locks), so nothing a lock holder writes is ever trusted to name the holder.
type Lock struct {
	f    *os.File
	path string
	once sync.Once
}

// RunningError says that another hypd holds the lock.
type RunningError struct {
	Table string
	PID   int // 0 when it could not be found out
}

func (e *RunningError) Error() string {
	who := "another hypd"
	if e.PID > 0 {
		who = fmt.Sprintf("another hypd (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s already runs the gateway of table inet %s in this network namespace; nothing was changed (stop it first: hypd stop)", who, e.Table)
}

// lockPath names the lock of table in the calling process's network namespace.
func lockPath(dir, table string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return "", fmt.Errorf("finding this network namespace: %w", err)
	}
	return filepath.Join(dir, fmt.Sprintf("hypd-%s-net%d.lock", table, st.Ino)), nil
}

// lockDir makes dir root's own (0700) and refuses one that anybody else could write into: a
// planted file or symlink there would be a lock somebody else holds.
func lockDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("instance lock directory %s: %w", dir, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return fmt.Errorf("instance lock directory %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("instance lock directory %s is not a directory; move it away", dir)
	}
	if int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
		return fmt.Errorf("instance lock directory %s is owned by uid %d with mode %#o; it must be root's alone (chown root %s; chmod 0700 %s)",
			dir, st.Uid, st.Mode&0o7777, dir, dir)
	}
	return nil
}

// AcquireLock takes the instance lock for table, or returns a *RunningError naming the holder.
func AcquireLock(table string) (*Lock, error) { return acquireLock(DefaultLockDir, table) }

func acquireLock(dir, table string) (*Lock, error) {
	if err := lockDir(dir); err != nil {
		return nil, err
	}
	path, err := lockPath(dir, table)
	if err != nil {
		return nil, err
	}
	for {
		f, err := lockFile(path, table)
		if err != nil {
			return nil, err
		}
		// The holder before us removes the file as it lets go (Close): a lock taken on a file
		// that is no longer at path locks nothing, so take the one that is there now.
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			// The pid in the file is for the admin reading it; hypd itself asks the kernel.
			_ = f.Truncate(0)
			_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
			return &Lock{f: f, path: path}, nil
		}
		f.Close()
	}
}

// lockFile opens path and takes its flock, or says who holds it.
func lockFile(path, table string) (*os.File, error) {
	// O_NOFOLLOW: the directory is root's, but a symlink there must never redirect root's create.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("taking the instance lock %s: %w", path, err)
	}
	for try := 0; ; try++ {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("taking the instance lock %s: %w", path, err)
		}
		// A `hypd status` or `cleanup` checking the lock holds it shared for a moment; only an
		// exclusive holder is another hypd.
		pid, _, _ := holder(path)
		if pid > 0 || try == 20 {
			f.Close()
			return nil, &RunningError{Table: table, PID: pid}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Close releases the lock and removes its file while still holding it, so no lock file is left
// per network namespace; a hypd that opened the file just before checks, once it holds the lock,
// that the file is still the one at the path, and takes a new one if not (acquireLock).
func (l *Lock) Close() error {
	var err error
	l.once.Do(func() {
		rerr := os.Remove(l.path)
		if errors.Is(rerr, os.ErrNotExist) {
			rerr = nil
		}
		err = errors.Join(rerr, l.f.Close())
	})
	if err != nil {
		return fmt.Errorf("releasing the instance lock: %w", err)
	}
	return nil
}

// LockHolder reports whether a hypd holds the lock for table in this network namespace, and its
// pid as the kernel's lock table names it.
func LockHolder(table string) (pid int, held bool, err error) {
	return lockHolder(DefaultLockDir, table)
}

func lockHolder(dir, table string) (int, bool, error) {
	path, err := lockPath(dir, table)
	if err != nil {
		return 0, false, err
	}
	return holder(path)
}

// holder tries the lock at path without keeping it: if it can be taken nobody holds it.
func holder(path string) (int, bool, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("checking for a running hypd: %w", err)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err == nil {
		_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
		return 0, false, nil
	} else if !errors.Is(err, unix.EWOULDBLOCK) {
		return 0, false, fmt.Errorf("checking for a running hypd: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return 0, true, nil
	}
	pid, _ := flockOwner(st.Dev, st.Ino)
	return pid, true, nil
}

// flockOwner finds the pid holding an exclusive flock on the file dev:ino in /proc/locks, the
// kernel's own list: a pid that no process can forge.
func flockOwner(dev, ino uint64) (int, error) {
	f, err := os.Open("/proc/locks")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(dev), unix.Minor(dev), ino)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// "1: FLOCK  ADVISORY  WRITE 1234 00:1a:5678 0 EOF"
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" || fields[3] != "WRITE" || fields[5] != want {
			continue
		}
		pid, err := strconv.Atoi(fields[4])
		if err != nil {
			continue
		}
		return pid, nil
	}
	return 0, sc.Err()
}

// VerifiedHolder returns a pidfd for the hypd holding the lock of table: the pid the kernel's
// lock table names, opened as a pidfd and checked to hold the lock still after it was opened, so
// a signal sent through it can only reach that hypd, never a recycled pid nor whatever pid
// somebody claims. The caller closes the pidfd.
func VerifiedHolder(table string) (pid, pidfd int, err error) {
	pid, held, err := LockHolder(table)
	if err != nil {
		return 0, -1, err
	}
	if !held {
		return 0, -1, errors.New("no hypd is running")
	}
	if pid <= 0 {
		return 0, -1, errors.New("hypd is running but the kernel does not name its pid; stop it with systemctl stop hypd")
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return pid, -1, fmt.Errorf("opening hypd (pid %d): %w", pid, err)
	}
	again, held, err := LockHolder(table)
	if err != nil || !held || again != pid {
		unix.Close(fd)
		return pid, -1, fmt.Errorf("hypd (pid %d) let go of its lock while being checked; nothing was signalled", pid)
	}
	return pid, fd, nil
}
