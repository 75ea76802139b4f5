//go:build !linux

package control

import "net"

// peerIsRoot is false: only Linux tells a unix socket's peer (SO_PEERCRED), so elsewhere the
// progress counters are served to nobody.
func peerIsRoot(net.Conn) bool { return false }

// peerPID is 0, "not known", where the kernel does not tell a unix socket's peer.
func peerPID(net.Conn) int { return 0 }

// NetNS is 0, "not known": network namespaces are Linux's.
func NetNS() uint64 { return 0 }

// NetNSOf is 0, "not known": network namespaces are Linux's.
func NetNSOf(int) uint64 { return 0 }

// dirProblem is Linux's; elsewhere there is no socket to make.
func dirProblem(string) string { return "" }
