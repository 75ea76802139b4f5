//go:build unix

package config

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
			// Only where nobody can write at all: a writer faster than the watch's debounce
			// held back every change there (the third attacker review), and every entry
			// another user may add is one more to judge. Kubernetes mounts secret volumes
			// read-only (since 1.10); kubelet swaps ..data from outside the mount.
			ro, err := readOnlyMount(dir)
			if err != nil {
				return fmt.Sprintf("mode %04o lets group or others add key files, and whether it is on a read-only mount is unknown (%v); refused, no key loads (chmod go-w %s)", perm, err, dir), false
			}
			if ro {
				return "", true
			}
			return fmt.Sprintf("mode %04o lets group or others add key files, and it is not on a read-only mount (as a Kubernetes secret volume is); refused, no key loads (chmod go-w %s)", perm, dir), false
		}
		return fmt.Sprintf("mode %04o lets group or others add or replace key files; refused, no key loads (chmod go-w %s)", perm, dir), false
	}
	return "", false
}

// wayProblem says why the way to path may be changed by someone other than root (or hypd's own
// user), as sshd's StrictModes does: every directory holding a symlink the path goes through,
// and every directory above what it names, must be theirs and not writable by group or others,
// unless root's and sticky (as /tmp): there nobody else can rename or remove root's entries, so
// only the entries on the way there must be root's too. Whoever can change the way can point
// it at another root-owned file or directory: an old config, or last release's key set with a
// key since revoked (the third attacker review). What path names itself is the caller's to
// judge, and it has been opened or read already: a path missing somewhere now changed while it
// was read, as another user's entry on the way does when it comes and goes, so it is a problem.
func wayProblem(path string) string {
	ch, err := walkPath(path)
	if err != nil {
		return err.Error()
	}
	if ch.target == "" {
		return fmt.Sprintf("%s on the way went missing while it was read; ignored until the next change", ch.missing)
	}
	dirs := slices.Clone(ch.parents)
	for d := filepath.Dir(ch.target); ; d = filepath.Dir(d) {
		if !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	shared := map[string]bool{} // root's sticky directories others may write into
	for _, d := range dirs {
		fi, err := os.Lstat(d)
		if err != nil {
			return fmt.Sprintf("directory %s on the way: %v", d, err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		if st.Uid != 0 && int(st.Uid) != os.Geteuid() {
			return fmt.Sprintf("directory %s on the way is owned by uid %d, who could point the path elsewhere; refused (chown root %s)", d, st.Uid, d)
		}
		if perm := fi.Mode().Perm(); perm&0o022 != 0 {
			if fi.Mode()&fs.ModeSticky == 0 || st.Uid != 0 {
				return fmt.Sprintf("directory %s on the way has mode %04o: group or others could point the path elsewhere; refused (chmod go-w %s)", d, perm, d)
			}
			shared[d] = true
		}
	}
	// In a shared sticky directory another user's entry is theirs to swap: each on the way must
	// be root's. The directories on the way were judged above; the links are judged here.
	for _, l := range ch.links {
		if !shared[filepath.Dir(l)] {
			continue
		}
		li, err := os.Lstat(l)
		if err != nil {
			return fmt.Sprintf("symlink %s on the way: %v", l, err)
		}
		if st, ok := li.Sys().(*syscall.Stat_t); ok && st.Uid != 0 && int(st.Uid) != os.Geteuid() {
			return fmt.Sprintf("symlink %s on the way is owned by uid %d in a directory others may write into; refused (chown -h root %s)", l, st.Uid, l)
		}
	}
	return ""
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
