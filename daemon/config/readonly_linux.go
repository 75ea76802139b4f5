package config

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// readOnlyMount reports whether dir is on a read-only mount, where nobody, root aside through
// another mount, can add, rename or remove an entry.
func readOnlyMount(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, fmt.Errorf("statfs %s: %w", dir, err)
	}
	return st.Flags&unix.ST_RDONLY != 0, nil
}
