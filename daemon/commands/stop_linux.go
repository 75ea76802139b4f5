//go:build linux

package commands

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/daemon/firewall"
	"github.com/hideyourports/hyp/daemon/gateway"
)

// stopRunning sends SIGTERM to the hypd holding the instance lock and waits until it let go. The
// signal goes through a pidfd of the pid the kernel's lock table names (gateway.VerifiedHolder):
// never to a pid that anything else reports.
func stopRunning() (int, error) {
	pid, fd, err := gateway.VerifiedHolder(firewall.DefaultTable)
	if err != nil {
		return pid, err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, unix.SIGTERM, nil, 0); err != nil {
		return pid, fmt.Errorf("stopping hypd (pid %d): %w", pid, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, running, err := gateway.LockHolder(firewall.DefaultTable); err == nil && !running {
			return pid, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return pid, fmt.Errorf("hypd (pid %d) did not stop within 30s of SIGTERM; nothing was deleted", pid)
}

// hupRunning sends SIGHUP, the reload, to the hypd holding the instance lock, through a pidfd as
// stopRunning does.
func hupRunning() (int, error) {
	pid, fd, err := gateway.VerifiedHolder(firewall.DefaultTable)
	if err != nil {
		return pid, err
	}
	defer unix.Close(fd)
	if err := unix.PidfdSendSignal(fd, unix.SIGHUP, nil, 0); err != nil {
		return pid, fmt.Errorf("reloading hypd (pid %d): %w", pid, err)
	}
	return pid, nil
}
