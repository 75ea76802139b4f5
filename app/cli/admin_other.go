//go:build !windows

package cli

import (
	"fmt"
)

// asAdmin fills the %s in a command line (before the part that needs root) with "sudo ".
func asAdmin(cmdline string) string { return fmt.Sprintf(cmdline, "sudo ") }
