//go:build !unix

package config

import "io/fs"

// ownerProblem checks key-file ownership where Unix owners exist; hypd runs on Linux only.
func ownerProblem(fs.FileInfo) string { return "" }

// writerProblem checks config-file ownership where Unix owners exist; hypd runs on Linux only.
func writerProblem(string, fs.FileInfo) string { return "" }

// keysDirProblem checks the keys directory where Unix owners exist; hypd runs on Linux only.
func keysDirProblem(string, fs.FileInfo) (string, bool) { return "", false }

// entryOwnerProblem checks owners where Unix owners exist; hypd runs on Linux only.
func entryOwnerProblem(fs.FileInfo) string { return "" }

// wayProblem checks the way to a path where Unix owners exist; hypd runs on Linux only.
func wayProblem(string) string { return "" }
