//go:build unix && !linux

package config

// readOnlyMount is known on Linux only, where hypd runs: elsewhere no mount counts as read-only.
func readOnlyMount(string) (bool, error) { return false, nil }
