package commands

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// progressBackend serves a status with or without the progress counters, as the socket gives
// them to root and to anyone else.
type progressBackend struct{ progress *control.Progress }

func (b progressBackend) Status() (control.Status, error) {
	return control.Status{Started: time.Now(), Detector: control.Counters{Seen: 7, Completions: 1, Progress: b.progress}}, nil
}
func (progressBackend) Revoke(netip.Addr) (int, error) { return 0, nil }
func (progressBackend) Unprotect(string) error         { return nil }

// TestStatusSaysProgressIsForRoot: without the progress counters (a client that is not root)
// hypd status says they are shown to root only, instead of printing zeros; with them it prints
// them.
func TestStatusSaysProgressIsForRoot(t *testing.T) {
	for _, c := range []struct {
		name     string
		progress *control.Progress
		want     string
	}{
		{"not root", nil, "hits, resets and first-port overflows are shown to root only"},
		{"root", &control.Progress{Hits: 3, Resets: 2, Overflows: 1}, "hits 3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.progress != nil {
				needs.Root(t, "the socket gives the progress counters to root only")
			}
			sock := filepath.Join(t.TempDir(), "hypd.sock")
			s, err := control.Listen(sock, progressBackend{c.progress})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			code, out, errOut := run(t, "status", "--socket", sock)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("hypd status lacks %q:\n%s", c.want, out)
			}
		})
	}
}
