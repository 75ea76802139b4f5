// Package netlab builds throwaway networks of Linux network namespaces for hyp's end-to-end tests and
// benchmarks: a gateway, a client and an attacker, each joined by a veth pair to a bridge that
// lives in a fourth, private namespace, so nothing touches the host's own interfaces. It runs
// programs inside a namespace (ip netns exec) and opens sockets inside one from the calling
// process (setns on a locked thread).
//
// It is Linux only and used only by Linux code, so it has no stubs for other systems.
package netlab
