//go:build !linux

package profiles

// keyringReachable has nothing to check up front outside Linux: the
// platform keyring API answers for itself.
func keyringReachable() error { return nil }
