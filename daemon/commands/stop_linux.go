//go:build linux

package commands

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/gateway"
)

// stopRunning sends SIGTERM to the hypd holding the instance lock and waits until it let go.
func stopRunning(pid int) error {
	if pid <= 0 {
		return errors.New("hypd is running but its pid is unknown; stop it with hypd stop or systemctl stop hypd")
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping hypd (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, running, err := gateway.LockHolder(firewall.DefaultTable); err == nil && !running {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("hypd (pid %d) did not stop within 30s of SIGTERM; nothing was deleted", pid)
}
