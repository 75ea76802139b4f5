//go:build !linux

package cli_test

import (
	"net"
	"net/netip"
	"time"
)

// rxConn stamps datagrams when the reader wakes up; only Linux has the
// kernel timestamps used there.
type rxConn struct{ *net.UDPConn }

func newRxConn(c *net.UDPConn) (rxConn, error) { return rxConn{c}, nil }

func (c rxConn) read(buf []byte) (int, netip.AddrPort, time.Time, error) {
	n, from, err := c.ReadFromUDPAddrPort(buf)
	return n, from, time.Now(), err
}
