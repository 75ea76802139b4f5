//go:build unix

package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// MoveAsideAt is MoveAside for the entry name of the open directory dir: the link and the
// removal are made relative to dir, so the file moved is one of the directory that was opened
// even when the path to it names another one by now (a directory someone renamed away and
// replaced with a symlink to root's: the fifth attacker review). It returns the new name, in dir.
func MoveAsideAt(dir *os.File, name string, now time.Time) (string, error) {
	if name != filepath.Base(name) || name == "." || name == ".." {
		return "", fmt.Errorf("moving %s aside in %s: not a name in the directory", name, dir.Name())
	}
	fd := int(dir.Fd())
	to, err := moveAside(name, now,
		func(to string) error { return unix.Linkat(fd, name, fd, to, 0) },
		func() error { return unix.Unlinkat(fd, name, 0) })
	if err != nil {
		return "", fmt.Errorf("in %s: %w", dir.Name(), err)
	}
	// As syncDir: the move is done whether or not this makes it durable now.
	_ = unix.Fsync(fd)
	return to, nil
}
