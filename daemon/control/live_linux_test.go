//go:build linux

package control_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/daemon/control"
)

// F3 of the attacker review: a second hypd (another network namespace, same --socket path) must
// not remove the live socket of the first, or the first's reload and stop reach the second. A
// stale socket (its hypd killed) is still replaced.
func TestListenRefusesALiveSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hypd.sock")
	listen(t, sock, &fakeBackend{st: sampleStatus()})
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}

	s, err := control.Listen(sock, &fakeBackend{})
	if err == nil {
		s.Close()
		t.Fatal("a second Listen on a live socket succeeded")
	}
	for _, want := range []string{fmt.Sprintf("another hypd (pid %d) serves %s", os.Getpid(), sock), "--socket"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// The first one's socket is the same file, and it still answers.
	if again, err := os.Stat(sock); err != nil || !os.SameFile(fi, again) {
		t.Fatalf("the live socket was replaced or removed: %v", err)
	}
	if _, err := control.NewClient(sock).Status(context.Background()); err != nil {
		t.Fatalf("the first hypd no longer answers: %v", err)
	}
}
