package cli

import (
	"fmt"
)

// asAdmin drops the %s in a command line (where Unix puts sudo) and says where to run it.
func asAdmin(cmdline string) string {
	return fmt.Sprintf(cmdline, "") + " (in a command prompt run as administrator)"
}
