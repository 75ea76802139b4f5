//go:build linux

package control_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestOtherUsersAreRefused runs a client as nobody (uid 65534) against the socket: refused when
// its group is nobody's, allowed when its group is the socket's (root) group.
func TestOtherUsersAreRefused(t *testing.T) {
	needs.Root(t, "runs clients as other users")
	// The test binary must be executable by nobody: copy it into a world-readable directory.
	bin, err := os.MkdirTemp("", "hyp-control-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(bin) })
	if err := os.Chmod(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := filepath.Join(bin, "control.test")
	copyFile(t, self, child, 0o755)

	// Socket in a world-traversable directory: only the socket's own mode protects it.
	open := filepath.Join(bin, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	openSock := filepath.Join(open, "hypd.sock")
	listen(t, openSock, &fakeBackend{st: sampleStatus()})
	// The default layout: Listen makes the directory 0750.
	defSock := filepath.Join(bin, "run", "hypd.sock")
	listen(t, defSock, &fakeBackend{st: sampleStatus()})

	for _, tc := range []struct {
		name     string
		sock     string
		gid      uint32
		wantCode int
	}{
		{"nobody, socket mode only", openSock, 65534, 3},
		{"nobody, default directory", defSock, 65534, 3},
		{"nobody in the root group", openSock, 0, 0},
		{"nobody in the root group, default directory", defSock, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(child, "-test.run=^$")
			cmd.Env = append(os.Environ(), childSocketEnv+"="+tc.sock)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: tc.gid}}
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Fatalf("client as uid 65534 gid %d exited %d, want %d: %s", tc.gid, code, tc.wantCode, out)
			}
		})
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
