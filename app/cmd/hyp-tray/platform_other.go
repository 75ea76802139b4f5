//go:build cgo && !windows

package main

// openLog: the tray logs to stderr, which the desktop session keeps (the journal).
func openLog() (path string, closeLog func(), err error) { return "", func() {}, nil }

// registerToastID: notifications need no registration outside Windows.
func registerToastID(string, string) error { return nil }
