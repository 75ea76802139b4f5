package helperbackend

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sys/windows"
)

// platformElevate starts argv through a UAC prompt (ShellExecute "runas").
// An elevated process of the same user reads the same profile store and
// Credential Manager, so it is given no stdin: the trailing "-" is dropped
// and 'hyp helper add' reads the profile itself. ShellExecute does not wait:
// the tray sees the result in the helper's list.
func platformElevate(_ context.Context, argv []string, _ string) error {
	if n := len(argv); n > 0 && argv[n-1] == "-" {
		argv = argv[:n-1]
	}
	args := make([]string, len(argv)-1)
	for i, a := range argv[1:] {
		args[i] = windows.EscapeArg(a)
	}
	verb, _ := windows.UTF16PtrFromString("runas")
	file, err := windows.UTF16PtrFromString(argv[0])
	if err != nil {
		return err
	}
	params, err := windows.UTF16PtrFromString(strings.Join(args, " "))
	if err != nil {
		return err
	}
	if err := windows.ShellExecute(0, verb, file, params, nil, windows.SW_HIDE); err != nil {
		if err == windows.ERROR_CANCELLED {
			return fmt.Errorf("the administrator prompt was declined: nothing was handed over")
		}
		return fmt.Errorf("asking for an administrator to run %s: %w", argv[0], err)
	}
	return nil
}
