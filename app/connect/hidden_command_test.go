package connect_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestCommandCauseKeepsExplanations: a launcher's error that explains itself (Windows: the
// command needs an administrator, let the helper start it) keeps its explanation in the public
// text, with the command cut out of it.
func TestCommandCauseKeepsExplanations(t *testing.T) {
	w := newWorld(true, 1)
	argv0 := `C:\Program Files\Secret VPN\secretvpn.exe`
	w.l.err = fmt.Errorf("%s needs to run as administrator, and hyp runs unelevated: %w", argv0,
		&exec.Error{Name: argv0, Err: errors.New("the requested operation requires elevation")})
	err := w.conn.Run(context.Background(), testProfile(443, argv0, "--token=tok-s3cr3t"), w.rec.add)
	if err == nil || !strings.Contains(err.Error(), "needs to run as administrator") || !strings.Contains(err.Error(), "requires elevation") {
		t.Fatalf("Run: %v, want the explanation", err)
	}
	if strings.Contains(err.Error(), "ecret") {
		t.Errorf("the error names the command: %q", err)
	}
	for _, s := range w.rec.steps {
		for _, text := range []string{s.Message, fmt.Sprint(s.Err)} {
			if strings.Contains(text, "ecret") {
				t.Errorf("the %v step names the command: %q", s.Kind, text)
			}
		}
	}
	if !errors.Is(err, w.l.err) {
		t.Error("the launcher's error is not wrapped")
	}
}
