//go:build linux

package control_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestProgressCountersForRootOnly: the socket's group may read the status, but the progress
// counters (hits, resets, first-port overflows), an oracle for the keys, go to root alone. A
// client as nobody in the socket's group gets the status without them; root gets them.
func TestProgressCountersForRootOnly(t *testing.T) {
	needs.Root(t, "runs a client as another user")
	dir, err := os.MkdirTemp("", "hyp-control-peer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(dir, "control.test")
	copyFile(t, self, child, 0o755)
	sock := filepath.Join(dir, "run", "hypd.sock")
	b := &fakeBackend{st: sampleStatus()}
	listen(t, sock, b)

	st, err := control.NewClient(sock).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(st.Detector.Progress, b.st.Detector.Progress) {
		t.Errorf("root got progress %+v, want %+v", st.Detector.Progress, b.st.Detector.Progress)
	}

	cmd := exec.Command(child, "-test.run=^$")
	cmd.Env = append(os.Environ(), childSocketEnv+"="+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 0}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("client as nobody in the socket's group: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "allowed, progress counters: false") {
		t.Errorf("client as nobody in the socket's group: %s; want the status without progress counters", out)
	}
}

// TestMetricsNeverShowProgress: whatever the status holds, /metrics has no progress counter.
func TestMetricsNeverShowProgress(t *testing.T) {
	st := sampleStatus()
	st.Detector.Progress = &control.Progress{Hits: 123457, Resets: 223457, Overflows: 323457}
	var b strings.Builder
	if err := control.WriteMetrics(&b, st); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"hits", "resets", "overflow", "123457", "223457", "323457"} {
		if strings.Contains(b.String(), bad) {
			t.Errorf("metrics show %q:\n%s", bad, b.String())
		}
	}
}
