//go:build !windows

package store

// DefaultDir is the helper's store.
func DefaultDir() string { return "/etc/hyp/helper" }
