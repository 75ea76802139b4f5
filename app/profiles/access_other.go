//go:build !windows

package profiles

import (
	"fmt"
	"os"
)

// ReadableByOthers names who besides the owner may read path ("" when nobody): group or others,
// by the mode bits.
func ReadableByOthers(path string) (string, error) {
	m, err := LooseMode(path)
	if err != nil || m == 0 {
		return "", err
	}
	// The file's whole mode, as ls shows it (0644), not only the loose bits (0044).
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("group or others (mode %04o)", st.Mode().Perm()), nil
}

// looseKeyFix is the command that makes a key file private.
func looseKeyFix(path string) string { return "chmod 600 " + path }

// restrictToOwner: the file was written with mode 0600, which is all it takes here.
func restrictToOwner(string) error { return nil }
