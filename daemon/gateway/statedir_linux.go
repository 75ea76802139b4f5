//go:build linux

package gateway

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/atomicfile"
)

// stateDir is a state directory held open: its protection file is read, judged and moved aside
// through this one handle. The fifth attacker review: a refused hypd.toml may name a directory
// of another user's; its protection.json was read by path (a FIFO there hung the fail-closed
// start for ever) and a damaged one moved aside by path, after the user had swapped their
// directory for a symlink to root's: root's saved protection was moved aside. Through the
// handle a swap after the open changes nothing, and what another user could have chosen is
// never moved.
type stateDir struct {
	path string
	dir  *os.File
	// way says why someone other than root (or hypd's own user) could have chosen which
	// directory this is or changed its entries, "" when no one could.
	way string
	// file is the protection file as the last load found it (read is false before): who may
	// have written it, and which file a move aside must find under its name.
	file unix.Stat_t
	read bool
}

// openStateDir opens path, a state directory. It goes from / one name at a time without
// following a link it has not judged (openWay); where the way is not root's alone it still
// opens what path names now, since a protection there may still hide more, but judges it
// untrusted. A missing directory is an error that wraps fs.ErrNotExist.
func openStateDir(path string) (*stateDir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", path, err)
	}
	fd, werr := openWay(abs)
	way := ""
	if werr != nil {
		way = werr.Error()
		fd, err = unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("state directory %s: %w", abs, err)
		}
	}
	return &stateDir{path: abs, dir: os.NewFile(uintptr(fd), abs), way: way}, nil
}

// Close releases the directory.
func (d *stateDir) Close() error { return d.dir.Close() }

// openWay opens the directory abs names from /, one name at a time relative to the one before
// and never following a link with the open (O_NOFOLLOW), and judges each directory it enters on
// its handle (dirProblem). A symlink on the way is followed only where it was found in a
// directory already judged, and only if it is root's or hypd's own: it is then theirs to point.
// The error says what on the way someone else could change.
func openWay(abs string) (int, error) {
	fd, at := -1, ""
	defer func() {
		if fd >= 0 {
			unix.Close(fd)
		}
	}()
	// enter makes nfd, the directory at path, the current one, once judged.
	enter := func(nfd int, path string) error {
		if fd >= 0 {
			unix.Close(fd)
		}
		fd, at = nfd, path
		return dirProblem(fd, at)
	}
	root, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("opening /: %w", err)
	}
	if err := enter(root, "/"); err != nil {
		return -1, err
	}
	rest := strings.Split(abs, "/")
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		if c == "" || c == "." {
			continue
		}
		next := filepath.Join(at, c)
		var st unix.Stat_t
		if err := unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return -1, fmt.Errorf("%s on the way: %w", next, err)
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK {
			if !rootOrHypd(st.Uid) {
				return -1, fmt.Errorf("symlink %s on the way is owned by uid %d", next, st.Uid)
			}
			if links++; links > 40 {
				return -1, fmt.Errorf("%s on the way: %w", next, unix.ELOOP)
			}
			buf := make([]byte, unix.PathMax)
			n, err := unix.Readlinkat(fd, c, buf)
			if err == nil && n >= len(buf) {
				err = unix.ENAMETOOLONG
			}
			if err != nil {
				return -1, fmt.Errorf("reading symlink %s on the way: %w", next, err)
			}
			target := string(buf[:n])
			rest = append(strings.Split(target, "/"), rest...)
			if filepath.IsAbs(target) {
				root, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					return -1, fmt.Errorf("opening /: %w", err)
				}
				if err := enter(root, "/"); err != nil {
					return -1, err
				}
			}
			continue
		}
		nfd, err := unix.Openat(fd, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("%s on the way: %w", next, err)
		}
		if err := enter(nfd, next); err != nil {
			return -1, err
		}
	}
	out := fd
	fd = -1
	return out, nil
}

// rootOrHypd says whether uid is root or hypd's own user, the only ones who may decide what hypd
// hides.
func rootOrHypd(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }

// dirProblem refuses a directory on the way (or the state directory itself) that another user
// owns or that group or others may write into, unless it is root's and sticky (as /tmp): there
// nobody else can rename or remove root's entries, and each entry is judged when it is entered.
func dirProblem(fd int, dir string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s on the way: %w", dir, err)
	}
	switch {
	case !rootOrHypd(st.Uid):
		return fmt.Errorf("directory %s is owned by uid %d", dir, st.Uid)
	case st.Mode&0o022 != 0 && !(st.Mode&unix.S_ISVTX != 0 && st.Uid == 0):
		return fmt.Errorf("directory %s has mode %#o", dir, st.Mode&0o7777)
	}
	return nil
}

// load reads the protection file through readProtectionFile.
func (d *stateDir) load() (p Protection, ok bool, err error) {
	path := filepath.Join(d.path, protectionFile)
	b, err := d.readProtectionFile()
	if errors.Is(err, unix.ENOENT) {
		return Protection{}, false, nil
	}
	if err != nil {
		return Protection{}, false, err
	}
	p, err = decodeProtection(path, b)
	if err != nil {
		return Protection{}, false, err
	}
	return p, true, nil
}

// readProtectionFile reads the protection file of d, bounded: whatever another user may have
// put there, it returns at once and holds at most maxProtectionFile bytes. A symlink or anything
// but a regular file (a FIFO would block a plain read until someone writes it; a device could
// be read for ever) is an error, not damage: it is not what hypd writes, and not moved aside. A
// regular file larger than hypd ever writes is damaged.
func (d *stateDir) readProtectionFile() ([]byte, error) {
	path := filepath.Join(d.path, protectionFile)
	// O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer;
	// for a regular file it changes nothing.
	fd, err := unix.Openat(int(d.dir.Fd()), protectionFile, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, fmt.Errorf("reading the last protection %s: a symbolic link; not followed", path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the last protection %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if err := unix.Fstat(fd, &d.file); err != nil {
		return nil, fmt.Errorf("reading the last protection %s: %w", path, err)
	}
	d.read = true
	if d.file.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("reading the last protection %s: not a regular file (mode %#o); not read", path, d.file.Mode)
	}
	if d.file.Size > maxProtectionFile {
		return nil, &damagedError{path: path, err: fmt.Errorf("%d bytes, more than hypd ever writes (%d)", d.file.Size, maxProtectionFile)}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxProtectionFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading the last protection %s: %w", path, err)
	}
	if len(b) > maxProtectionFile {
		return nil, &damagedError{path: path, err: fmt.Errorf("more than hypd ever writes (%d bytes)", maxProtectionFile)}
	}
	return b, nil
}

// trustProblem says why someone other than root could have written the protection file that
// load read ("" when no one could): the way to its directory, the directory, or the file is
// another user's or writable by group or others.
func (d *stateDir) trustProblem() string {
	switch {
	case d.way != "":
		return d.way
	case !d.read:
		return "it was not read"
	case !rootOrHypd(d.file.Uid):
		return fmt.Sprintf("the file is owned by uid %d", d.file.Uid)
	case d.file.Mode&unix.S_IFMT != unix.S_IFREG || d.file.Mode&0o022 != 0:
		return fmt.Sprintf("the file has mode %#o", d.file.Mode)
	}
	return ""
}

// moveAside moves the protection file load read out of the way, in the directory held open,
// and returns its new path. It refuses when someone other than root could have chosen the
// directory or written the file (nothing of another user's is moved, and nothing of root's
// through a way another user could re-point), or when the name no longer holds the file read.
func (d *stateDir) moveAside(now time.Time) (string, error) {
	if why := d.trustProblem(); why != "" {
		return "", fmt.Errorf("left in place, since someone other than root could have put it there: %s", why)
	}
	var st unix.Stat_t
	if err := unix.Fstatat(int(d.dir.Fd()), protectionFile, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", fmt.Errorf("moving %s aside: %w", filepath.Join(d.path, protectionFile), err)
	}
	if st.Dev != d.file.Dev || st.Ino != d.file.Ino {
		return "", fmt.Errorf("left in place: %s was replaced since it was read", filepath.Join(d.path, protectionFile))
	}
	name, err := atomicfile.MoveAsideAt(d.dir, protectionFile, now)
	if err != nil {
		return "", err
	}
	return filepath.Join(d.path, name), nil
}
