//go:build !unix && !windows

package knockstate

// lockFile is a no-op where there is no file lock (wasm, plan9): File's
// mutex still serialises one process.
func lockFile(string) (func(), error) { return func() {}, nil }
