//go:build cgo && (linux || freebsd)

package main

import (
	"errors"
	"os"
)

// checkDisplay says why there is no graphical session to show a tray in, before GLFW would
// panic with a stack trace over it.
func checkDisplay() error {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("no graphical session: DISPLAY and WAYLAND_DISPLAY are unset (start hyp-tray from your desktop; in a terminal or over SSH, use hyp)")
	}
	return nil
}
