//go:build !windows

package elevate

import "github.com/hideyourports/hyp/core/keyfile"

// CheckInvokerMayRead is Windows': elsewhere `hyp helper add` reads the invoking user's files
// with that user's rights (AsUser) and needs no separate check.
func CheckInvokerMayRead(string) error { return nil }

// ReadKeyFile reads the key file at path: elsewhere than Windows with the rights of the thread
// it runs on, which for the invoking user's files is AsUser's (the kernel checks the file it
// opens, links and all).
func ReadKeyFile(path string) (*keyfile.File, error) { return keyfile.ReadFile(path) }
