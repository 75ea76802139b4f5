package store

import (
	"path/filepath"

	"golang.org/x/sys/windows"
)

// DefaultDir is the helper's store: hyp\helper in the ProgramData known folder. The folder
// comes from the known-folder API, not the %ProgramData% variable, which the user who starts
// a command sets.
func DefaultDir() string {
	base, err := windows.KnownFolderPath(windows.FOLDERID_ProgramData, windows.KF_FLAG_DEFAULT)
	if err != nil {
		base = `C:\ProgramData` // the system's own default, should the API fail
	}
	return filepath.Join(base, "hyp", "helper")
}
