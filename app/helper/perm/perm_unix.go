//go:build !windows

package perm

import (
	"fmt"
	"os"
	"syscall"
)

// RequireAdmin refuses early, in one line, instead of failing on a
// permission error halfway through.
func RequireAdmin(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%s needs root: the helper's store is readable by root only (try sudo)", what)
	}
	return nil
}

// SecureDir makes dir (and its parents) and forces it to 0700.
func SecureDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the helper store: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("securing the helper store: %w", err)
	}
	return CheckPrivate(dir, true)
}

// CheckPrivate accepts only a root-owned path that gives group and others
// no access: 0700 for the directory, 0600 for a file, and no symlink.
func CheckPrivate(path string, dir bool) error {
	st, err := os.Lstat(path)
	if err != nil {
		return fmt.Errorf("checking the helper store: %w", err)
	}
	want := os.FileMode(0o600)
	switch {
	case dir && !st.IsDir():
		return fmt.Errorf("%s is not a directory", path)
	case !dir && !st.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case dir:
		want = 0o700
	}
	if st.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %04o, want %04o: the helper will not use keys others can read (chmod %o %s)", path, st.Mode().Perm(), want, want, path)
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Uid != 0 {
		return fmt.Errorf("%s is owned by uid %d, want root (0)", path, sys.Uid)
	}
	return nil
}
