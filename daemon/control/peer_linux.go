package control

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// peerCred is what the kernel recorded of the process at the other end of c when the connection
// was made (SO_PEERCRED, which the peer cannot fake), or nil when it cannot tell.
func peerCred(c net.Conn) *unix.Ucred {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return nil
	}
	return cred
}

// peerIsRoot says whether the process at the other end of c is root. Anything it cannot tell is
// not root.
func peerIsRoot(c net.Conn) bool {
	cred := peerCred(c)
	return cred != nil && cred.Uid == 0
}

// peerPID is the pid of the process at the other end of c as this process's pid namespace sees
// it: for a client, the process that listens. 0 when the kernel does not name it (the peer is in
// a pid namespace this one cannot see) or it cannot be told.
func peerPID(c net.Conn) int {
	if cred := peerCred(c); cred != nil {
		return int(cred.Pid)
	}
	return 0
}

// NetNS is the inode of the calling process's network namespace (/proc/self/ns/net), 0 if it
// cannot be read: what tells two hypds on one socket path apart when pids are not visible.
func NetNS() uint64 { return netnsOf("/proc/self/ns/net") }

// NetNSOf is the network namespace inode of process pid, 0 if it cannot be read.
func NetNSOf(pid int) uint64 { return netnsOf(fmt.Sprintf("/proc/%d/ns/net", pid)) }

func netnsOf(path string) uint64 {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0
	}
	return st.Ino
}

// dirProblem says why another user could replace names in dir ("" when no one but root can):
// owned by someone else, or writable by group or others without being root's and sticky.
func dirProblem(dir string) string {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return err.Error()
	}
	switch {
	case st.Uid != 0 && int(st.Uid) != os.Geteuid():
		return fmt.Sprintf("is owned by uid %d", st.Uid)
	case st.Mode&0o022 != 0 && !(st.Mode&unix.S_ISVTX != 0 && st.Uid == 0):
		return fmt.Sprintf("(mode %#o) can be written by group or others", st.Mode&0o7777)
	}
	return ""
}
