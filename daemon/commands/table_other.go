//go:build !linux

package commands

import "errors"

// tableExists needs Linux, like hypd itself.
func tableExists(string) (bool, error) { return false, errors.New("hypd runs on Linux only") }
