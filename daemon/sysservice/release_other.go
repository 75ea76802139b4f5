//go:build !linux

package sysservice

import "errors"

// KernelRelease needs Linux: hypd's capability set depends on the Linux kernel version.
func KernelRelease() (string, error) {
	return "", errors.New("the kernel release matters only on Linux")
}
