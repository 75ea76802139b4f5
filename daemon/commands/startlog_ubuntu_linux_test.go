//go:build linux

package commands

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// Ubuntu's /var/log is root:syslog 0775: a directory above the log's that a system group may
// write is passed, since the log's own directory is judged in turn; one another user owns is
// not (the fourth attacker review found the README's hypd start refused on Ubuntu).
func TestOpenLogPassesAGroupWritableRootAncestor(t *testing.T) {
	needs.Root(t, "chowns a directory to another user")
	base := t.TempDir()
	varlog := filepath.Join(base, "varlog")
	if err := os.Mkdir(varlog, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(varlog, 0o775); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(varlog, 0, 4); err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(varlog, "hyp")
	if err := os.Mkdir(logs, 0o750); err != nil {
		t.Fatal(err)
	}
	fd, err := openLogDir(logs)
	if err != nil {
		t.Fatalf("a log directory under a root:syslog 0775 directory: %v", err)
	}
	unix.Close(fd)

	if err := os.Chown(varlog, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := openLogDir(logs); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("a directory on the way that another user owns: %v", err)
	}
	// The log's own directory stays strict.
	if err := os.Chown(varlog, 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(logs, 0o770); err != nil {
		t.Fatal(err)
	}
	if _, err := openLogDir(logs); err == nil || !strings.Contains(err.Error(), "can be written by group or others") {
		t.Fatalf("a group-writable log directory: %v", err)
	}
}
