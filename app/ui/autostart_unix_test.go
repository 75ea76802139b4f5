//go:build unix

package ui

import (
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2/test"

	"github.com/hideyourports/hyp/app/autostart"
)

// Ticking "Start at login" writes the real XDG autostart entry, unticking
// removes it, and a window opened later shows what is on disk.
func TestStartAtLoginWritesXDGEntry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "autostart")
	entry := filepath.Join(dir, autostart.Name+".desktop")
	store := autostart.XDG{Dir: dir, Exec: "/usr/bin/hyp-tray"}
	open := func() *ProfileWindow {
		tr := NewTray(test.NewTempApp(t), newFake(), Options{Notify: (&notes{}).notify, Autostart: store})
		tr.Show(&fakeHost{}, nil)
		t.Cleanup(func() { tr.cancel(); tr.Wait() })
		return tr.ShowWindow()
	}
	w := open()
	test.Tap(w.login)
	if _, err := os.Stat(entry); err != nil {
		t.Fatalf("ticking Start at login wrote no entry: %v", err)
	}
	if !open().login.Checked {
		t.Fatal("a new window does not show the entry on disk as ticked")
	}
	test.Tap(w.login)
	if _, err := os.Stat(entry); !os.IsNotExist(err) {
		t.Fatalf("unticking left the entry: %v", err)
	}
}
