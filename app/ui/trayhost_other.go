//go:build !linux

package ui

import "context"

// CheckTrayHost reports nil: Windows and macOS always have a notification
// area, and fyne talks to it directly rather than over D-Bus.
func CheckTrayHost(context.Context) error { return nil }
