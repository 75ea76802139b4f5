//go:build linux

package sysservice

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// KernelRelease returns the running kernel's release, e.g. "6.1.0-18-amd64".
func KernelRelease() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", fmt.Errorf("reading the kernel release: %w", err)
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}
