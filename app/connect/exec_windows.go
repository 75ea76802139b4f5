package connect

import (
	"errors"
	"fmt"
	"os/exec"

	"golang.org/x/sys/windows"
)

// terminate kills the command: Windows has no signal a console-less child
// can be asked to stop with, so the graceful path is the VPN's own service.
func terminate(cmd *exec.Cmd) error { return cmd.Process.Kill() }

// startError explains a command that Windows would not start. A command that
// needs elevation (its manifest asks for administrator) cannot be started by
// CreateProcess from the unelevated tray or a console: the helper service,
// which runs as SYSTEM, is the way to run it.
func startError(argv0 string, err error) error {
	if errors.Is(err, windows.ERROR_ELEVATION_REQUIRED) {
		return fmt.Errorf("%s needs to run as administrator, and hyp runs unelevated: let the hyp helper service start it (an administrator adds the profile with 'hyp helper add NAME'): %w", argv0, err)
	}
	return err
}
