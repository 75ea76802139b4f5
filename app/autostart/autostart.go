// Package autostart turns "start the tray app at login" on and off: an XDG
// autostart entry ($XDG_CONFIG_HOME/autostart/*.desktop) on Linux and other
// freedesktop systems, a value under the current user's Run key
// (HKCU\Software\Microsoft\Windows\CurrentVersion\Run) on Windows. Both are
// per user and need no rights beyond the user's own.
//
// The tray window shows the setting through the Setting interface, so the UI
// is tested with a fake and each platform's store is tested on its own.
package autostart

import (
	"errors"
	"strings"
)

// Setting is the start-at-login switch of one program.
type Setting interface {
	// Enabled reports whether the program starts at login.
	Enabled() (bool, error)
	// SetEnabled turns starting at login on or off.
	SetEnabled(on bool) error
}

// Name names the entry: the .desktop file's base name and the Run value.
const Name = "hyp-tray"

// ErrUnsupported is returned by New where hyp has no autostart store (macOS:
// login items need a signed app bundle).
var ErrUnsupported = errors.New("starting at login is not supported on this system")

// quoteExec quotes a path for a command line where spaces separate
// arguments: in double quotes, with the characters the desktop entry spec
// (and the Windows command line) treat specially escaped by a backslash.
func quoteExec(path string) string {
	if !strings.ContainsAny(path, " \t\"'\\$`") {
		return path
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range path {
		if strings.ContainsRune("\"`$\\", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}
