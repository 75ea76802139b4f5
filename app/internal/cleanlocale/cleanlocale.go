// Package cleanlocale keeps Fyne from logging "Error parsing user locale C" at every start under
// LANG=C.UTF-8 (what a minimal system, a container or a service has): Fyne reads the locale
// while its packages initialise, and "C.UTF-8" is no language tag. This package's init runs
// first — Go initialises the ready package with the lowest import path first, and this one needs
// only os and strings, while Fyne's lang package waits for github.com/jeandeaual/go-locale — and
// shortens such a value to "C", which Fyne takes as English. Restore puts the user's value back,
// so the VPN commands hyp-tray starts see the environment it was given.
package cleanlocale

import (
	"os"
	"strings"
)

// stash holds "NAME=VALUE" of the variable init changed. It is kept in the environment, not in
// a package variable, until Restore takes it out again.
const stash = "HYP_TRAY_SAVED_LOCALE"

func init() {
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(name)
		if v == "" {
			continue
		}
		if strings.HasPrefix(v, "C.") || strings.HasPrefix(v, "POSIX.") {
			os.Setenv(stash, name+"="+v)
			os.Setenv(name, "C")
		}
		return // the first one set is the one that counts
	}
}

// Restore undoes what init changed; main calls it first.
func Restore() {
	if name, value, ok := strings.Cut(os.Getenv(stash), "="); ok {
		os.Setenv(name, value)
	}
	os.Unsetenv(stash)
}
