//go:build !linux

package netns

import "errors"

// Do runs fn directly when fd is 0; other systems have no network namespaces.
func Do(fd int, fn func() error) error {
	if fd == 0 {
		return fn()
	}
	return errors.New("network namespaces are Linux only")
}

// Join fails: other systems have no network namespaces.
func Join(fd int) error {
	return errors.New("network namespaces are Linux only")
}

// DoNamed fails: other systems have no network namespaces.
func DoNamed(name string, fn func() error) error {
	return errors.New("network namespaces are Linux only")
}
