// Package e2e holds hyp's end-to-end tests: they build bin/hyp and bin/hypd once, run hypd in a
// gateway network namespace on a real kernel, and knock, connect, replay, scan and kill from client
// and attacker namespaces, checking what docs/protocol.md sections 4 and 5 promise on the wire rather
// than what the packages promise each other. Everything is in the tests; this file only names the
// package. They need root; the namespaces they make are removed even when a test fails.
package e2e
