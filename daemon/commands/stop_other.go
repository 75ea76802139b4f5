//go:build !linux

package commands

import "errors"

// stopRunning needs Linux, like hypd itself.
func stopRunning() (int, error) { return 0, errors.New("hypd runs on Linux only") }

// hupRunning needs Linux, like hypd itself.
func hupRunning() (int, error) { return 0, errors.New("hypd runs on Linux only") }
