//go:build !linux

package commands

import "errors"

// stopRunning needs Linux, like hypd itself.
func stopRunning(pid int) error { return errors.New("hypd runs on Linux only") }
