// Package core holds the parts of hyp that every client and the daemon share:
// the pre-shared key (psk), the knock schemes (sequence), the hyp:// profile
// URI (profile) and the sender of knocks (knock).
//
// Everything under core is pure Go with no OS- or GUI-specific imports, so the
// CLI builds for every GOOS/GOARCH with CGO_ENABLED=0 and the daemon, the tray
// app and the helper compute exactly the same ports. imports_test.go enforces
// that rule; docs/protocol.md and the vectors in testdata are the contract.
package core
