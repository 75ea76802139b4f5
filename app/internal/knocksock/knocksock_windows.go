//go:build windows

package knocksock

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/windows"
)

// Listen opens a Winsock UDP socket ("udp4" or "udp6") bound to address (host:port; an
// empty host is every address, port 0 any port). ctx is unused: nothing here blocks.
func Listen(_ context.Context, network, address string) (net.PacketConn, error) {
	family := windows.AF_INET
	switch network {
	case "udp4":
	case "udp6":
		family = windows.AF_INET6
	default:
		return nil, fmt.Errorf("knock socket: network %q: want udp4 or udp6", network)
	}
	bind, err := bindAddr(family, address)
	if err != nil {
		return nil, err
	}
	var data windows.WSAData
	if err := windows.WSAStartup(uint32(0x202), &data); err != nil {
		return nil, fmt.Errorf("starting Winsock: %w", describe(err))
	}
	fd, err := windows.Socket(family, windows.SOCK_DGRAM, windows.IPPROTO_UDP)
	if err != nil {
		windows.WSACleanup()
		return nil, fmt.Errorf("creating a %s socket: %w", network, describe(err))
	}
	if err := windows.Bind(fd, bind); err != nil {
		windows.Closesocket(fd)
		windows.WSACleanup()
		return nil, fmt.Errorf("binding a %s socket to %q: %w", network, address, describe(err))
	}
	return &conn{fd: fd}, nil
}

// bindAddr turns "host:port" into the socket address of family; an empty host is the
// unspecified address.
func bindAddr(family int, address string) (windows.Sockaddr, error) {
	host, portText, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("knock socket address %q: %w", address, err)
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("knock socket address %q: port %q is not a number from 0 to 65535", address, portText)
	}
	addr := netip.IPv4Unspecified()
	if family == windows.AF_INET6 {
		addr = netip.IPv6Unspecified()
	}
	if host != "" {
		if addr, err = netip.ParseAddr(host); err != nil {
			return nil, fmt.Errorf("knock socket address %q: %w", address, err)
		}
	}
	return sockaddr(netip.AddrPortFrom(addr.Unmap(), uint16(port)), family)
}

func sockaddr(ap netip.AddrPort, family int) (windows.Sockaddr, error) {
	if family == windows.AF_INET {
		if !ap.Addr().Is4() {
			return nil, fmt.Errorf("%s is not an IPv4 address", ap.Addr())
		}
		return &windows.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
	}
	return &windows.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}, nil
}

func addrPort(sa windows.Sockaddr) netip.AddrPort {
	switch sa := sa.(type) {
	case *windows.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port))
	case *windows.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr), uint16(sa.Port))
	}
	return netip.AddrPort{}
}

// conn is a net.PacketConn over a Winsock handle. Reads and writes block in the system call;
// deadlines are the socket's SO_RCVTIMEO and SO_SNDTIMEO.
type conn struct {
	fd     windows.Handle
	mu     sync.Mutex // guards closed, so that a second Close does not close a reused handle
	closed bool
}

func (c *conn) family() int {
	if sa, err := windows.Getsockname(c.fd); err == nil {
		if _, ok := sa.(*windows.SockaddrInet6); ok {
			return windows.AF_INET6
		}
	}
	return windows.AF_INET
}

func (c *conn) WriteTo(p []byte, addr net.Addr) (int, error) {
	u, ok := addr.(*net.UDPAddr)
	if !ok {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: fmt.Errorf("not a UDP address: %T", addr)}
	}
	sa, err := sockaddr(u.AddrPort(), c.family())
	if err == nil {
		err = windows.Sendto(c.fd, p, 0, sa)
	}
	if err != nil {
		return 0, &net.OpError{Op: "write", Net: "udp", Addr: addr, Err: describe(err)}
	}
	return len(p), nil
}

func (c *conn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, from, err := windows.Recvfrom(c.fd, p, 0)
	if err != nil {
		return 0, nil, &net.OpError{Op: "read", Net: "udp", Err: describe(err)}
	}
	return n, net.UDPAddrFromAddrPort(addrPort(from)), nil
}

func (c *conn) LocalAddr() net.Addr {
	sa, err := windows.Getsockname(c.fd)
	if err != nil {
		return nil
	}
	return net.UDPAddrFromAddrPort(addrPort(sa))
}

func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	err := windows.Closesocket(c.fd)
	windows.WSACleanup()
	if err != nil {
		return fmt.Errorf("closing the knock socket: %w", describe(err))
	}
	return nil
}

func (c *conn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *conn) SetReadDeadline(t time.Time) error  { return c.timeout(windows.SO_RCVTIMEO, t) }
func (c *conn) SetWriteDeadline(t time.Time) error { return c.timeout(windows.SO_SNDTIMEO, t) }

// timeout sets a socket timeout option to the time left until t (0: none; a deadline that
// has passed becomes the shortest timeout, 1 ms).
func (c *conn) timeout(opt int, t time.Time) error {
	ms := 0
	if !t.IsZero() {
		ms = max(int(time.Until(t).Milliseconds()), 1)
	}
	if err := windows.SetsockoptInt(c.fd, windows.SOL_SOCKET, opt, ms); err != nil {
		return fmt.Errorf("setting the knock socket's timeout: %w", describe(err))
	}
	return nil
}

// wsaText names the Winsock errors a knock can meet in words: under wine the system's message
// is often just "winapi error #10051", which tells a person nothing.
func wsaText(errno windows.Errno) (string, bool) {
	switch errno {
	case windows.WSAEACCES:
		return "permission denied (a firewall or policy forbids sending)", true
	case windows.WSAEADDRINUSE:
		return "the local address is already in use", true
	case windows.WSAEADDRNOTAVAIL:
		return "the address is not available on this machine", true
	case windows.WSAEAFNOSUPPORT:
		return "this address family is not supported (is IPv6 enabled?)", true
	case windows.WSAEHOSTUNREACH:
		return "no route to the host", true
	case windows.WSAEINVAL:
		return "invalid argument", true
	case windows.WSAEMSGSIZE:
		return "the datagram is too large", true
	case windows.WSAENETDOWN:
		return "the network is down", true
	case windows.WSAENETUNREACH:
		return "the network is unreachable (no route)", true
	case windows.WSAENOBUFS:
		return "out of socket buffers", true
	case windows.WSAETIMEDOUT, windows.WSAEWOULDBLOCK:
		return "timed out", true
	case windows.WSANOTINITIALISED:
		return "Winsock is not initialised", true
	case windows.WSASYSNOTREADY:
		return "the network subsystem is not ready", true
	}
	return "", false
}

// describe replaces a Winsock error number by words; the error stays matchable with
// errors.Is against the windows.Errno.
func describe(err error) error {
	var errno windows.Errno
	if !errors.As(err, &errno) {
		return err
	}
	if text, ok := wsaText(errno); ok {
		return &wsaError{errno: errno, text: text}
	}
	return err
}

type wsaError struct {
	errno windows.Errno
	text  string
}

func (e *wsaError) Error() string { return e.text }
func (e *wsaError) Unwrap() error { return e.errno }
