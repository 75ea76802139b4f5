//go:build !linux

package gateway

import (
	"context"
	"errors"
	"log/slog"

	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/protected"
)

// Run needs Linux: the detector is an XDP program and grants are nftables elements.
func Run(ctx context.Context, cfg config.Config, o Options) error {
	return errors.New("hypd runs on Linux only (XDP and nftables)")
}

// FailClosed needs Linux.
func FailClosed(log *slog.Logger, cfg *config.Config, named []protected.Service, stateDirs, keysDirs []string, reason error) error {
	return errors.New("hypd runs on Linux only (XDP and nftables)")
}

// LockHolder needs Linux: no hypd runs elsewhere.
func LockHolder(table string) (pid int, held bool, err error) { return 0, false, nil }
