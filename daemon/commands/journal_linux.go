//go:build linux

package commands

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// journalStream reports whether w is the stream systemd connected to the journal: JOURNAL_STREAM
// holds "DEVICE:INODE" of it (systemd.exec(5)). Comparing, not just testing the variable, keeps
// a hypd started by hand from a journald-managed shell from dropping its timestamps.
func journalStream(w io.Writer) bool {
	want := os.Getenv("JOURNAL_STREAM")
	f, ok := w.(*os.File)
	if want == "" || !ok {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino) == want
}
