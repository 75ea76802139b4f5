//go:build unix

package config

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// ownerProblem says why a key file that is not hypd's own may not be trusted: a file another
// user owns, or one with a second hard link, can be rewritten by someone who is not root (the
// attacker review: a user's file moved into the keys directory keeps its owner, and a hard link
// in the user's home lets them widen their own key's services and open time at will).
func ownerProblem(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if int(st.Uid) != os.Geteuid() {
		return fmt.Sprintf("owned by uid %d, not by hypd's user (uid %d), who alone may write key files; refused (chown root)", st.Uid, os.Geteuid())
	}
	if st.Nlink > 1 {
		return fmt.Sprintf("has %d hard links, so it can be changed through another name; refused (copy it: cp --remove-destination)", st.Nlink)
	}
	return ""
}

// writerProblem says why a config file may have been written by someone other than root: it is
// owned by another user than root and hypd's own, or group or others may write it. Either could
// add public = [...] and un-hide a service (the attacker review, F5a).
func writerProblem(path string, fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Sprintf("owned by uid %d, not by root, who alone may decide what hypd hides; refused (chown root %s)", st.Uid, path)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Sprintf("mode %04o lets group or others write it, and so decide what hypd hides; refused (chmod go-w %s)", perm, path)
	}
	return ""
}

// keysDirProblem says why the keys directory may not be trusted: a directory that another user
// owns or that group or others may write into lets them add a key file of their own, or replace
// root's (a key file is refused if another user owns it, but a rename over root's file in a
// writable directory needs no ownership of the file). A root-owned sticky directory is the
// exception: a Kubernetes secret volume is mounted so (drwxrwxrwt root root), and there nobody
// but root can rename or remove root's entries; what another user plants there is theirs, and
// LoadKeys refuses entries not owned by root in such a directory.
func keysDirProblem(dir string, fi fs.FileInfo) (problem string, sticky bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", false
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Sprintf("owned by uid %d, not by root; refused, no key loads (chown root %s)", st.Uid, dir), false
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		if fi.Mode()&fs.ModeSticky != 0 && st.Uid == 0 {
			return "", true
		}
		return fmt.Sprintf("mode %04o lets group or others add or replace key files; refused, no key loads (chmod go-w %s)", perm, dir), false
	}
	return "", false
}

// entryOwnerProblem says why an entry of a sticky keys directory (as lstat sees it: a symlink
// is judged by its own owner) is not root's.
func entryOwnerProblem(fi fs.FileInfo) string {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
		return fmt.Sprintf("owned by uid %d in a directory others may write into; refused", st.Uid)
	}
	return ""
}
