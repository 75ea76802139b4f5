// Package layering holds no code, only the test that keeps the module's layers apart: the
// daemon and the client never import each other, internal/ serves both and imports neither,
// and core imports nothing of ours but core. A review catches a wrong import once; this test
// catches it every time. core's own stricter guard (no OS code, no cgo) is core/imports_test.go.
package layering
