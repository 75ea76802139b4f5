//go:build !linux

package commands

import "io"

// journalStream: there is no journald off Linux.
func journalStream(io.Writer) bool { return false }
