//go:build !linux && !freebsd

package ui

// CheckDisplay reports nil: Windows and macOS always have a desktop to draw
// on when a user runs hyp-tray.
func CheckDisplay(bool) error { return nil }
