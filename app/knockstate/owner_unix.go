//go:build unix

package knockstate

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// checkOwnDir refuses a state directory owned by another user. hyp run with
// sudo -E finds the invoking user's XDG_STATE_HOME: root must not create or
// replace files where that user can plant links (a knocks.json.lock linked to
// /etc/nologin would have root create it).
func checkOwnDir(dir string) error {
	st, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("checking the knock state directory: %w", err)
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
	f, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW, 0o600)
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
