//go:build !windows

package store

import "errors"

// sealed: outside Windows the store's privacy is the file mode and owner (root, 0600), as for
// ssh keys and WireGuard's own configuration; there is no machine-bound key to encrypt with.
const sealed = false

func seal([]byte) (string, error)   { return "", errors.New("no sealing on this system") }
func unseal(string) ([]byte, error) { return nil, errors.New("no sealing on this system") }
