//go:build !linux

package gateway

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// stateDir is a state directory. hypd runs on Linux only (statedir_linux.go holds the directory
// open and judges who may have written it); here it is only read, bounded and regular files only,
// so that the code around it builds and its tests run.
type stateDir struct{ path string }

func openStateDir(path string) (*stateDir, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", path, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("state directory %s: not a directory", path)
	}
	return &stateDir{path: path}, nil
}

func (d *stateDir) Close() error { return nil }

func (d *stateDir) load() (Protection, bool, error) {
	path := filepath.Join(d.path, protectionFile)
	fi, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return Protection{}, false, nil
	}
	if err != nil {
		return Protection{}, false, fmt.Errorf("reading the last protection %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return Protection{}, false, fmt.Errorf("reading the last protection %s: not a regular file (%v); not read", path, fi.Mode().Type())
	}
	f, err := os.Open(path)
	if err != nil {
		return Protection{}, false, fmt.Errorf("reading the last protection %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxProtectionFile+1))
	if err != nil {
		return Protection{}, false, fmt.Errorf("reading the last protection %s: %w", path, err)
	}
	if len(b) > maxProtectionFile {
		return Protection{}, false, &damagedError{path: path, err: fmt.Errorf("more than hypd ever writes (%d bytes)", maxProtectionFile)}
	}
	p, err := decodeProtection(path, b)
	if err != nil {
		return Protection{}, false, err
	}
	return p, true, nil
}
