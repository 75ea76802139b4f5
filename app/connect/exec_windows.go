package connect

import "os/exec"

// terminate kills the command: Windows has no signal a console-less child
// can be asked to stop with, so the graceful path is the VPN's own service.
func terminate(cmd *exec.Cmd) error { return cmd.Process.Kill() }
