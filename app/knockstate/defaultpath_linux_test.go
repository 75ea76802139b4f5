package knockstate

import "testing"

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/tmp/state-home")
	got, err := DefaultPath()
	if err != nil || got != "/tmp/state-home/hyp/knocks.json" {
		t.Fatalf("DefaultPath: %q, %v", got, err)
	}
	t.Setenv("XDG_STATE_HOME", "relative")
	t.Setenv("HOME", "/home/someone")
	if got, _ := DefaultPath(); got != "/home/someone/.local/state/hyp/knocks.json" {
		t.Fatalf("DefaultPath with a relative XDG_STATE_HOME: %q", got)
	}
}
