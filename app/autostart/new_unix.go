//go:build unix && !darwin && !ios && !android

package autostart

// New is the user's XDG autostart entry for exe.
func New(exe string) (Setting, error) { return XDG{Exec: exe}, nil }
