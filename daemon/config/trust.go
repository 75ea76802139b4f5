package config

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// maxConfigFile bounds what Load reads: a config file is a few kilobytes.
const maxConfigFile = 1 << 20

// readTrusted reads the config file at path once it is known that nobody but root (or hypd's own
// user) can have written it. Whoever can write hypd.toml decides what hypd hides: a line
// public = [...] un-hides a service (the attacker review, F5a). The checks are on the open
// file, so a swap between check and read changes nothing.
func readTrusted(path string) ([]byte, error) {
	// O_NONBLOCK: a FIFO there must not hang hypd; it changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("config %s: not a regular file (%v)", path, fi.Mode().Type())
	}
	why := writerProblem(path, fi)
	if why == "" {
		// Judged after the open, as the file is: a way that nobody else may change now led to
		// the file opened, since root's directories stay root's.
		why = wayProblem(path)
	}
	if why != "" {
		return nil, fmt.Errorf("config %s: %s", path, why)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("config %s: larger than %d bytes, not a config file", path, maxConfigFile)
	}
	return data, nil
}

// CheckKeysDir says why LoadKeys would refuse dir as a whole (it is not root's, or group or
// others may write into it, and it is not a root-owned sticky directory on a read-only mount, or
// someone else may change the way to it), or nil. hypd init asks
// it of a keys directory it keeps.
func CheckKeysDir(dir string) error {
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("keys directory: %w", err)
	}
	why, _ := keysDirProblem(dir, fi)
	if why == "" {
		why = wayProblem(dir)
	}
	if why != "" {
		return fmt.Errorf("keys directory %s: %s", dir, why)
	}
	return nil
}
