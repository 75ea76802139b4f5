package autostart

import "testing"

func TestRunValue(t *testing.T) {
	if got := runValue(`C:\Program Files\hyp\hyp-tray.exe`); got != `"C:\Program Files\hyp\hyp-tray.exe"` {
		t.Fatalf("runValue: %s", got)
	}
}
