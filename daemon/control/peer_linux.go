package control

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerIsRoot says whether the process at the other end of c is root, as the kernel recorded it
// when it connected (SO_PEERCRED, which the peer cannot fake). Anything it cannot tell is not root.
func peerIsRoot(c net.Conn) bool {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return false
	}
	return cred.Uid == 0
}
