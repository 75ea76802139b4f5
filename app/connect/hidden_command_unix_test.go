//go:build !windows

package connect_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/connect"
)

// TestCommandStepsDoNotNameTheCommand: a helper profile's command is root's, and the helper
// passes the steps' Message and Err (and the error Run returns) on to its users, so none of
// them names the command, whether it starts, cannot start or ends with an error; Detail does,
// for the command's owner.
func TestCommandStepsDoNotNameTheCommand(t *testing.T) {
	dir := t.TempDir()
	failing := filepath.Join(dir, "vpn-secret-client")
	if err := os.WriteFile(failing, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	notExec := filepath.Join(dir, "vpn-not-executable")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		argv []string
		want string // in the public text
	}{
		{"ends with an error", []string{failing, "--token=tok-s3cr3t"}, "exit status 3"},
		{"not found on PATH", []string{"vpn-missing-client", "--token=tok-s3cr3t"}, "not found"},
		{"not executable", []string{notExec, "--token=tok-s3cr3t"}, "permission denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(true, 1)
			w.conn.Launcher = &connect.ExecLauncher{}
			err := w.conn.Run(context.Background(), testProfile(443, tc.argv...), w.rec.add)
			var ce *connect.Error
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run: %v, want a connect.Error saying %q", err, tc.want)
			}
			secrets := []string{filepath.Base(tc.argv[0]), "s3cr3t"}
			texts := []string{err.Error(), errors.Unwrap(err).Error()}
			var detail string
			for _, s := range w.rec.steps {
				texts = append(texts, s.Message)
				if s.Err != nil {
					texts = append(texts, s.Err.Error())
				}
				if s.Kind == connect.Failed {
					detail = s.Detail
				}
			}
			for _, text := range texts {
				for _, secret := range secrets {
					if strings.Contains(text, secret) {
						t.Errorf("a text the helper passes on names the command (%q): %q", secret, text)
					}
				}
			}
			if !strings.Contains(detail, filepath.Base(tc.argv[0])) {
				t.Errorf("the failed step's Detail does not name the command for its owner: %q", detail)
			}
		})
	}
	w := newWorld(true, 1)
	w.l.exit <- nil
	if err := w.conn.Run(context.Background(), testProfile(443, "wg-quick", "up", "office"), w.rec.add); err != nil {
		t.Fatal(err)
	}
	for _, s := range w.rec.steps {
		if s.Kind == connect.Launched && (strings.Contains(s.Message, "wg-quick") || s.Detail != "started wg-quick up office") {
			t.Errorf("launched step: message %q, detail %q; want the command in the detail only", s.Message, s.Detail)
		}
	}
}
