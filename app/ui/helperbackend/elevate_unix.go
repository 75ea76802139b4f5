//go:build !windows

package helperbackend

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
)

// platformElevate runs argv as root through pkexec: polkit asks for an
// administrator's password in the desktop's own dialog (the default
// org.freedesktop.policykit.exec action, auth_admin), and pkexec passes
// stdin through, so the secret never is on a command line. pkexec exits
// 126 when the dialog is dismissed and 127 when authorisation fails.
func platformElevate(ctx context.Context, argv []string, stdin string) error {
	if _, err := exec.LookPath("pkexec"); err != nil {
		return fmt.Errorf("pkexec (polkit) is not installed; in a terminal run: hyp profile export NAME | sudo %s", argv[0]+" helper add NAME -")
	}
	err := runAs(ctx, append([]string{"pkexec"}, argv...), stdin)
	var ee *exec.ExitError
	if errors.As(err, &ee) && (ee.ExitCode() == 126 || ee.ExitCode() == 127) {
		return fmt.Errorf("not authorised: nothing was handed over (%w)", err)
	}
	return err
}
