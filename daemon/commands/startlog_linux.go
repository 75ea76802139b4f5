//go:build linux

package commands

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// openLog opens (or creates, mode 0640) the log of a hypd started in the background, for
// appending and for reading back the lines of a failed start. Root writes it, so it must be
// root's own regular file in a directory nobody else can write into (or a root-owned sticky
// one, like /tmp, where others cannot replace root's files): otherwise a symlink or a file
// planted there would have root append hypd's output wherever its owner chose (the attacker
// review, F4). Everything is checked on the descriptor, not the name.
func openLog(path string) (*os.File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("log file %s: creating its directory: %w", path, err)
	}
	// The file is opened relative to the directory checked, so a swap of the directory between
	// check and open changes nothing.
	dfd, err := openLogDir(dir)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, filepath.Base(path), unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o640)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("log file %s is a symbolic link; refused (give --log the file itself)", path)
	}
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		err = fmt.Errorf("log file %s is not a regular file; refused", path)
	case int(st.Uid) != os.Geteuid():
		err = fmt.Errorf("log file %s is owned by uid %d, not by hypd's user (uid %d); refused (move it away, or chown root %s)", path, st.Uid, os.Geteuid(), path)
	case st.Nlink > 1:
		err = fmt.Errorf("log file %s has %d hard links; refused (move it away)", path, st.Nlink)
	}
	if err == nil {
		if cerr := unix.Fchmod(int(f.Fd()), 0o640); cerr != nil {
			err = fmt.Errorf("log file %s: %w", path, cerr)
		}
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	// O_NONBLOCK was only for the open (a FIFO planted there must not hang start); off again.
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	return f, nil
}

// openLogDir opens dir one component at a time from /, each with O_NOFOLLOW and relative to the
// one before, and judges each directory on the way as the last (logDirProblem): a symlink
// anywhere on the way, or a directory above that another user could rename, would let them
// choose the directory root creates the log in (the third attacker review: only the last
// directory was checked, and through whatever symlinks led to it).
func openLogDir(dir string) (int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return -1, fmt.Errorf("its directory %s: %w", dir, err)
	}
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("its directory %s: opening /: %w", dir, err)
	}
	at := "/"
	for _, c := range strings.Split(abs, "/") {
		if c == "" {
			continue
		}
		// Above the log's own directory only the owner counts: a root-owned /var/log that a
		// system group may write (Ubuntu's root:syslog 0775) lets that group rename entries,
		// but the next directory is judged in turn once opened without following links, so
		// what they could put there is another directory of root's at most.
		if err := ancestorProblem(fd, at); err != nil {
			unix.Close(fd)
			return -1, err
		}
		next := filepath.Join(at, c)
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Lstat(next, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return -1, fmt.Errorf("its directory's way goes through %s, a symbolic link; refused (give --log a path without symlinks)", next)
			}
		}
		if err != nil {
			return -1, fmt.Errorf("its directory %s: %w", next, err)
		}
		fd, at = nfd, next
	}
	if err := logDirProblem(fd, at); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// ancestorProblem refuses a directory above the log's that another user owns.
func ancestorProblem(dfd int, dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return err
	}
	if int(st.Uid) != os.Geteuid() && st.Uid != 0 {
		return fmt.Errorf("its directory's way goes through %s, owned by uid %d, not root; refused (give --log in a directory of root's)", dir, st.Uid)
	}
	return nil
}

// logDirProblem refuses a log directory that another user owns or can write into, unless it is
// root's and sticky.
func logDirProblem(dfd int, dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(dfd, &st); err != nil {
		return err
	}
	sticky := st.Mode&unix.S_ISVTX != 0
	switch {
	case int(st.Uid) != os.Geteuid() && st.Uid != 0:
		return fmt.Errorf("its directory %s is owned by uid %d, not root; refused (give --log in a directory of root's)", dir, st.Uid)
	case st.Mode&0o022 != 0 && !(sticky && st.Uid == 0):
		return fmt.Errorf("its directory %s (mode %#o) can be written by group or others; refused (chmod go-w %s, or give --log elsewhere)", dir, st.Mode&0o7777, dir)
	}
	return nil
}

// lastLines is the end of what f holds past offset, on one line: why a hypd started in the
// background did not come up. It reads the descriptor the hypd wrote to, not the path.
func lastLines(f *os.File, offset int64, n int) string {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil || st.Size < offset {
		return ""
	}
	const most = 64 << 10
	from := max(offset, st.Size-most)
	b := make([]byte, st.Size-from)
	k, _ := f.ReadAt(b, from)
	lines := strings.Split(strings.TrimSpace(string(b[:k])), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
