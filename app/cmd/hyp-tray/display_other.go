//go:build cgo && !linux && !freebsd

package main

// checkDisplay: Windows and macOS always have a desktop to draw on when a user runs hyp-tray.
func checkDisplay() error { return nil }
