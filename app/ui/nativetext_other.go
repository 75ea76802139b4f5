//go:build !windows

package ui

// nativeText is the text as the system draws it: unchanged outside Windows.
func nativeText(s string) string { return s }

// nativeNote is the notification text as the system draws it: unchanged outside Windows.
func nativeNote(s string) string { return s }
