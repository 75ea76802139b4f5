package cli_test

import (
	"encoding/binary"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"
)

// rxConn reads datagrams with the kernel's receive timestamp. On loopback
// the kernel stamps a datagram inside the sender's sendto call, so the gap
// between two stamps is at least the gap the sender slept, with none of the
// receiving goroutines' wake-up jitter.
type rxConn struct{ *net.UDPConn }

func newRxConn(c *net.UDPConn) (rxConn, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return rxConn{}, err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return rxConn{}, err
	}
	return rxConn{c}, serr
}

func (c rxConn) read(buf []byte) (int, netip.AddrPort, time.Time, error) {
	oob := make([]byte, 128)
	n, oobn, _, from, err := c.ReadMsgUDPAddrPort(buf, oob)
	if err != nil {
		return 0, from, time.Time{}, err
	}
	at := time.Now()
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SO_TIMESTAMPNS && len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) && unsafe.Sizeof(syscall.Timespec{}) == 16 {
				sec := int64(binary.NativeEndian.Uint64(m.Data[0:8]))
				nsec := int64(binary.NativeEndian.Uint64(m.Data[8:16]))
				at = time.Unix(sec, nsec)
			}
		}
	}
	return n, from, at, nil
}
