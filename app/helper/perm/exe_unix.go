//go:build !windows

package perm

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// CheckExecutable refuses to make exe the root service unless only root can
// change it: the file and every directory above it owned by root and
// writable by nobody else (group write only for group root). A hyp in ~/bin,
// /tmp or Downloads would give root to whoever can replace that file.
func CheckExecutable(exe string, _ func(string)) error {
	resolved, err := filepath.EvalSymlinks(exe)
	if err != nil {
		return fmt.Errorf("finding the hyp executable %s: %w", exe, err)
	}
	resolved, err = filepath.Abs(resolved)
	if err != nil {
		return err
	}
	for p := resolved; ; p = filepath.Dir(p) {
		if why := unsafeForRoot(p); why != "" {
			return fmt.Errorf("the helper would run %s as root, but %s %s: whoever can write there could replace what root runs. "+
				"Install hyp where only root can write, e.g. sudo install -m 0755 %s /usr/local/bin/hyp, then run sudo /usr/local/bin/hyp helper install",
				resolved, p, why, resolved)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// unsafeForRoot says why someone besides root could change path, or "".
func unsafeForRoot(path string) string {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Sprintf("cannot be checked (%v)", err)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return "cannot be checked (no owner)"
	}
	mode := st.Mode().Perm()
	switch {
	case sys.Uid != 0:
		return fmt.Sprintf("is owned by uid %d, not root", sys.Uid)
	case mode&0o002 != 0:
		return fmt.Sprintf("is writable by everyone (%v)", st.Mode())
	case mode&0o020 != 0 && sys.Gid != 0:
		return fmt.Sprintf("is writable by group %d (%v)", sys.Gid, st.Mode())
	}
	return ""
}
