//go:build !linux

package commands

import (
	"context"
	"errors"
)

// startBackground needs Linux, like hypd itself.
func startBackground(context.Context, *env, string, startFlags) (int, error) {
	return 0, errors.New("hypd runs on Linux only")
}
