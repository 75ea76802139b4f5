//go:build !unix

package config

import "io/fs"

// ownerProblem checks key-file ownership where Unix owners exist; hypd runs on Linux only.
func ownerProblem(fs.FileInfo) string { return "" }
