package firewall

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/daemon/protected"
)

// dialTOS connects from ns with the given IPv4 TOS or IPv6 traffic class on the SYN.
func dialTOS(t *testing.T, ns *testNS, to netip.Addr, port uint16, tos int) (net.Conn, error) {
	t.Helper()
	var c net.Conn
	err := ns.do(func() (err error) {
		d := net.Dialer{Timeout: probeTimeout, Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			if err := rc.Control(func(fd uintptr) {
				if to.Is4() {
					serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TOS, tos)
				} else {
					serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_TCLASS, tos)
				}
			}); err != nil {
				return err
			}
			return serr
		}}
		c, err = d.Dial("tcp", netip.AddrPortFrom(to, port).String())
		return err
	})
	if c != nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, err
}

// TestTrafficDSCPSYNs: without stealth a SYN with a DSCP draws nothing from a protected port and
// from an unused one alike (the kernel would copy the DSCP into its RST, the reject cannot), a
// SYN without one draws an RST from both, and an open service of the gateway that is not public
// still takes a connection whose SYN carries a DSCP (openServiceRule), over IPv4 and IPv6.
func TestTrafficDSCPSYNs(t *testing.T) {
	const hidden, open, unused = 2222, 2300, 2299
	p := newPair(t)
	p.gw.TempEcho(t, hidden)
	p.gw.TempEcho(t, open)
	openNS(t, p.gw, Config{Protected: []protected.Service{{Proto: "tcp", Port: hidden}}})
	for _, gw := range []netip.Addr{gw4, gw6} {
		for _, port := range []uint16{hidden, unused} {
			if _, err := dialTOS(t, p.cl, gw, port, 0); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("SYN with DSCP 0 to %s port %d: %v, want connection refused", gw, port, err)
			}
			if _, err := dialTOS(t, p.cl, gw, port, 0x20); !isTimeout(err) {
				t.Errorf("SYN with TOS 0x20 to %s port %d: %v, want no answer", gw, port, err)
			}
		}
		c, err := dialTOS(t, p.cl, gw, open, 0x20)
		if err != nil {
			t.Fatalf("SYN with TOS 0x20 to the open service %s port %d: %v", gw, open, err)
		}
		echo(t, c, "open service, TOS 0x20")
		c.Close()
	}
}
