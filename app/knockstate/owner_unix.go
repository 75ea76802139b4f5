//go:build unix

package knockstate

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// checkOwnDir refuses a state directory owned by another user. hyp run with
// sudo -E finds the invoking user's XDG_STATE_HOME: root must not create or
// replace files where that user can plant links (a knocks.json.lock linked to
// /etc/nologin would have root create it).
//
// Lstat: a symbolic link the user made to a directory root owns must not pass as root's own.
func checkOwnDir(dir string) error {
	st, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("checking the knock state directory: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("the knock state directory %s is not a directory (a symbolic link?): hyp does not follow links there", dir)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if euid := os.Geteuid(); int(sys.Uid) != euid {
		return fmt.Errorf("the knock state directory %s is owned by uid %d, not by this process (uid %d): hyp does not write into another user's directories (run hyp as that user, or give root its own: sudo -H, without -E)", dir, sys.Uid, euid)
	}
	return nil
}

// openState opens a state or lock file without following a link in its last
// component, and accepts only a regular file of this process's user.
func openState(path string, flag int) (*os.File, error) {
	// O_NONBLOCK: a FIFO planted in its place must not hang the open; the regular-file check
	// below refuses it. It changes nothing for a regular file.
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o600)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s is a symbolic link: the knock state must be a plain file", path)
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	switch {
	case !st.Mode().IsRegular():
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file", path)
	case ok && int(sys.Uid) != os.Geteuid():
		f.Close()
		return nil, fmt.Errorf("%s is owned by uid %d, not by this process (uid %d)", path, sys.Uid, os.Geteuid())
	}
	return f, nil
}

// checkCreatePlace refuses, for root, to create the state directory inside a directory another
// user owns: root's MkdirAll would make a root-owned directory there that the user, owning its
// parent, could swap for a link after the check above.
func checkCreatePlace(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	p := dir
	for {
		if _, err := os.Lstat(p); err == nil {
			if p == dir {
				return nil // it exists: checkOwnDir judges it
			}
			return checkOwnDir(p)
		}
		parent := filepath.Dir(p)
		if parent == p {
			return nil
		}
		p = parent
	}
}
