// Package atomicfile writes files so that a crash, a full disk or a reader at the wrong moment sees
// the old file or the new one, never a torn one. Every state, key and profile file hyp writes goes
// through it, because one careful writer is easier to trust than four almost-equal copies.
package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Write replaces path with data. The directory must exist.
func Write(path string, data []byte, perm fs.FileMode) error {
	return WriteFrom(path, bytes.NewReader(data), perm)
}

// WriteFrom replaces path with what r yields: a temporary file in the same directory is
// written, given perm, synced, then renamed over path, and the directory synced.
func WriteFrom(path string, r io.Reader, perm fs.FileMode) error {
	tmp, err := writeTemp(path, r, perm)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// Create writes data to path only if path does not exist yet, also when another process
// creates it in between: the complete temporary file is hard-linked into place, which fails
// rather than replace. The error for an existing path wraps fs.ErrExist. Where hard links
// are not supported it falls back to O_EXCL creation, which is still no-clobber but may
// leave a partial file after a crash.
func Create(path string, data []byte, perm fs.FileMode) error {
	tmp, err := writeTemp(path, bytes.NewReader(data), perm)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	err = os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", path, fs.ErrExist)
	}
	if err != nil {
		if err := createExcl(path, data, perm); err != nil {
			return err
		}
	}
	syncDir(filepath.Dir(path))
	return nil
}

func createExcl(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w", path, fs.ErrExist)
		}
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	return f.Close()
}

// writeTemp leaves a complete, synced copy of r beside path and returns its name; on error
// nothing is left behind.
func writeTemp(path string, r io.Reader, perm fs.FileMode) (name string, err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return "", fmt.Errorf("creating a temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// Chmod before writing: a private file is never readable by others, not even briefly.
	if err = f.Chmod(perm); err != nil {
		return "", fmt.Errorf("setting the mode of %s: %w", tmp, err)
	}
	if _, err = io.Copy(f, r); err != nil {
		return "", fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return "", fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return "", fmt.Errorf("closing %s: %w", tmp, err)
	}
	return tmp, nil
}

// syncDir makes a rename or link durable where the OS allows opening a directory; a failure
// cannot undo what was done, so it is not reported.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}

// MoveAside renames a damaged file to PATH.damaged-TIME (UTC, to the second; a counter is added
// when that name is taken) so that a new one can be started while the old stays for the admin
// to inspect. It never overwrites anything and returns the new name.
func MoveAside(path string, now time.Time) (string, error) {
	name, err := moveAside(path, now, func(to string) error { return os.Link(path, to) }, func() error { return os.Remove(path) })
	if err != nil {
		return "", err
	}
	syncDir(filepath.Dir(path))
	return name, nil
}

// moveAside links name to the first free one of its damaged-TIME names (link), then removes it
// (remove), and returns the name it got: a hard link never replaces an existing name.
func moveAside(name string, now time.Time, link func(to string) error, remove func() error) (string, error) {
	base := name + ".damaged-" + now.UTC().Format("20060102T150405Z")
	for i := 0; i < 100; i++ {
		to := base
		if i > 0 {
			to = fmt.Sprintf("%s.%d", base, i)
		}
		if err := link(to); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return "", fmt.Errorf("moving %s aside: %w", name, err)
		}
		if err := remove(); err != nil {
			return "", fmt.Errorf("moving %s aside to %s: %w", name, to, err)
		}
		return to, nil
	}
	return "", fmt.Errorf("moving %s aside: too many damaged copies beside it already", name)
}
