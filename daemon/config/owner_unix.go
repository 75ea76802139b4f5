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
