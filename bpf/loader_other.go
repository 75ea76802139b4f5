//go:build !linux

package bpf

import (
	"errors"
	"runtime"
)

// Objects is empty: XDP programs load only on Linux.
type Objects struct{}

// Load fails: XDP programs load only on Linux.
func Load(Options) (*Objects, error) {
	return nil, errors.New("loading knock program: XDP needs Linux, not " + runtime.GOOS)
}

// Close does nothing.
func (o *Objects) Close() error { return nil }
