//go:build !windows

package connect

import (
	"os/exec"
	"syscall"
)

// terminate asks the VPN command to stop: VPN clients (openvpn, wg-quick)
// clean up routes and DNS on SIGTERM.
func terminate(cmd *exec.Cmd) error { return cmd.Process.Signal(syscall.SIGTERM) }

// startError is err: exec's message names the command and the cause already.
func startError(_ string, err error) error { return err }
