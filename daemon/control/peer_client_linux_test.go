//go:build linux

package control_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hideyourports/hyp/daemon/control"
)

// The network namespace a hypd reports is root's to see (it is how the commands tell whether a
// hypd in another pid namespace is theirs), and a checked client refuses a peer its check refuses
// before sending anything.
func TestStatusNetNSAndCheckedClient(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "hypd.sock")
	b := &reloadCounter{fakeBackend: fakeBackend{st: sampleStatus()}}
	listen(t, sock, b)
	ctx := context.Background()
	st, err := control.NewClient(sock).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 && (st.NetNS == 0 || st.NetNS != control.NetNS()) {
		t.Errorf("status netns %d, want this process's %d", st.NetNS, control.NetNS())
	}
	var seen int
	c := control.NewCheckedClient(sock, func(pid int) error {
		seen = pid
		return fmt.Errorf("not the one (pid %d)", pid)
	})
	_, err = c.Reload(ctx)
	var pe *control.PeerError
	if err == nil || !strings.Contains(err.Error(), "not the one") || !errorsAs(err, &pe) {
		t.Fatalf("checked client: %v", err)
	}
	if seen != os.Getpid() {
		t.Errorf("the check saw pid %d, want the listener's %d", seen, os.Getpid())
	}
	if n := b.count(); n != 0 {
		t.Fatalf("the refused peer was asked to reload %d times", n)
	}
}

// reloadCounter counts the reloads it was asked for.
type reloadCounter struct {
	fakeBackend
	mu sync.Mutex // guards n
	n  int
}

func (b *reloadCounter) Reload(context.Context) (control.ReloadResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n++
	return control.ReloadResult{Applied: []string{"keys"}}, nil
}

func (b *reloadCounter) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
