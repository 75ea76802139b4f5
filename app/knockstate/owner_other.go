//go:build !unix

package knockstate

import "os"

// checkOwnDir: the owner check is a Unix one (a root process in a user's
// directory); Windows keeps the state under the user's own profile.
func checkOwnDir(string) error { return nil }

// openState opens a state or lock file.
func openState(path string, flag int) (*os.File, error) { return os.OpenFile(path, flag, 0o600) }

// checkCreatePlace needs Unix owners; Windows keeps the state in the user's own profile.
func checkCreatePlace(string) error { return nil }
