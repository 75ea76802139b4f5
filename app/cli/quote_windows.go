package cli

import (
	"fmt"
	"syscall"
)

// quoteArg writes one argument of a command as Windows command lines quote it (the way the
// command is started, with CreateProcess): backslashes stay single, C:\vpn stays C:\vpn.
func quoteArg(a string) string { return syscall.EscapeArg(a) }

// asAdmin drops the %s in a command line (where Unix puts sudo) and says where to run it.
func asAdmin(cmdline string) string {
	return fmt.Sprintf(cmdline, "") + " (in a command prompt run as administrator)"
}
