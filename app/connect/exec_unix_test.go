//go:build !windows

package connect_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// TestExecLauncherStopsGracefully: cancel sends SIGTERM, so a VPN client can
// tear its routes down; the trap proves the signal arrived before any kill.
func TestExecLauncherStopsGracefully(t *testing.T) {
	dir := t.TempDir()
	mark := filepath.Join(dir, "terminated")
	ready := filepath.Join(dir, "trapped")
	script := filepath.Join(dir, "vpn.sh")
	body := "#!/bin/sh\ntrap 'echo bye > \"$1\"; exit 0' TERM\n: > \"$2\"\necho up\nwhile :; do sleep 0.05; done\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	l := &connect.ExecLauncher{Stdout: &out, StopGrace: 5 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	proc, err := l.Start(ctx, []string{script, mark, ready})
	if err != nil {
		t.Fatal(err)
	}
	waitfor.For(t, "the shell installing its trap", 5*time.Second, func() bool {
		_, err := os.Stat(ready)
		return err == nil
	})
	start := time.Now()
	cancel()
	proc.Wait()
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("stopping took %v", took)
	}
	if b, err := os.ReadFile(mark); err != nil || strings.TrimSpace(string(b)) != "bye" {
		t.Fatalf("the command did not see SIGTERM: %v", err)
	}
}

// TestExecLauncherNoShell: argv reaches the program as given; nothing is
// interpreted by a shell.
func TestExecLauncherNoShell(t *testing.T) {
	var out bytes.Buffer
	l := &connect.ExecLauncher{Stdout: &out}
	proc, err := l.Start(context.Background(), []string{"printf", "%s|", "a b", "$HOME", "`id`;"})
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "a b|$HOME|`id`;|" {
		t.Fatalf("output %q", got)
	}
	if _, err := l.Start(context.Background(), []string{filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("starting a missing program succeeded")
	}
}
