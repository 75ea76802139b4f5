//go:build !windows

package cli

import (
	"fmt"
	"strings"
)

// quoteArg writes one argument of a command as a POSIX shell would need it.
func quoteArg(a string) string {
	if a == "" || strings.ContainsAny(a, " \t\"'\\$`;&|<>()*?[]#~") {
		return fmt.Sprintf("%q", a)
	}
	return a
}

// asAdmin fills the %s in a command line (before the part that needs root) with "sudo ".
func asAdmin(cmdline string) string { return fmt.Sprintf(cmdline, "sudo ") }
