//go:build !linux

package config

import (
	"io/fs"
	"os"
	"syscall"
)

// openKeyFile opens path for reading (keyread_linux.go says why Linux reads otherwise).
// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
func openKeyFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// sameFile is os.SameFile.
func sameFile(a, b fs.FileInfo) bool { return os.SameFile(a, b) }
