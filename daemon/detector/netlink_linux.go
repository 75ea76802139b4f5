package detector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// Raw rtnetlink over x/sys/unix rather than a netlink library: the detector
// needs four message types (links and addresses, new and deleted), one dump of
// each and one link query, which is less code than adapting a library's
// namespace handling to the thread the watcher has locked into the gateway's
// namespace, and adds no dependency to the daemon.

// nlSocket is one NETLINK_ROUTE socket. It belongs to the network namespace
// of the thread that opened it for its whole life.
type nlSocket struct {
	fd  int
	seq atomic.Uint32
}

// openNetlink opens a route socket in the calling thread's namespace, joined
// to groups (0 for a request-only socket) with a receive buffer of rcvbuf
// bytes (0: 4 MiB).
func openNetlink(groups uint32, rcvbuf int) (*nlSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("opening rtnetlink socket: %w", err)
	}
	if groups != 0 {
		// A burst of events (a bond of many VLANs coming up) must not
		// overflow the queue; if it does anyway the watcher resyncs.
		if rcvbuf == 0 {
			rcvbuf = 4 << 20
		}
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding rtnetlink socket: %w", err)
	}
	return &nlSocket{fd: fd}, nil
}

func (s *nlSocket) Close() error { return unix.Close(s.fd) }

// request sends one request and returns every message of the answer: up to
// NLMSG_DONE for a dump, the single reply otherwise. A netlink error in the
// answer is returned as its errno.
func (s *nlSocket) request(typ uint16, flags uint16, body []byte) ([]syscall.NetlinkMessage, error) {
	seq := s.seq.Add(1)
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	b = append(b, body...)
	binary.NativeEndian.PutUint32(b[0:], uint32(len(b)))
	binary.NativeEndian.PutUint16(b[4:], typ)
	binary.NativeEndian.PutUint16(b[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(b[8:], seq)
	if err := unix.Sendto(s.fd, b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, err
	}
	dump := flags&unix.NLM_F_DUMP != 0
	var out []syscall.NetlinkMessage
	for {
		// A fresh buffer each time: the parsed messages point into it.
		buf := make([]byte, 256<<10)
		n, _, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			return nil, err
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return nil, fmt.Errorf("parsing rtnetlink answer: %w", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != seq {
				continue // a late answer to an earlier, abandoned request
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					return nil, errors.New("short rtnetlink error message")
				}
				if e := int32(binary.NativeEndian.Uint32(m.Data)); e != 0 {
					return nil, unix.Errno(-e)
				}
				return out, nil // an ACK
			}
			out = append(out, m)
			if !dump {
				return out, nil
			}
		}
	}
}

// linkMsg is what the detector reads from an RTM_NEWLINK or RTM_DELLINK.
type linkMsg struct {
	index int
	name  string
	typ   uint16 // ARPHRD_*
	// xdpDrv and xdpSKB are the ids of the programs attached in native
	// and generic mode (0: none).
	xdpDrv, xdpSKB uint32
}

func parseLink(m *syscall.NetlinkMessage) (linkMsg, bool) {
	if len(m.Data) < unix.SizeofIfInfomsg {
		return linkMsg{}, false
	}
	l := linkMsg{index: int(int32(binary.NativeEndian.Uint32(m.Data[4:8]))), typ: binary.NativeEndian.Uint16(m.Data[2:4])}
	attrs, ok := routeAttrs(m.Data[unix.SizeofIfInfomsg:])
	if !ok {
		return linkMsg{}, false
	}
	for _, a := range attrs {
		switch a.typ {
		case unix.IFLA_IFNAME:
			l.name = cString(a.value)
		case unix.IFLA_XDP:
			for _, x := range nestedAttrs(a.value) {
				if len(x.value) < 4 {
					continue
				}
				id := binary.NativeEndian.Uint32(x.value)
				switch x.typ {
				case unix.IFLA_XDP_DRV_PROG_ID:
					l.xdpDrv = id
				case unix.IFLA_XDP_SKB_PROG_ID:
					l.xdpSKB = id
				}
			}
		}
	}
	return l, true
}

// rawIP says whether the link's packets carry no link-layer header, so XDP
// sees them from the IP header on: PPP (ppp0 of a PPPoE uplink), tun and
// WireGuard (ARPHRD_NONE), raw-IP modems.
func (l linkMsg) rawIP() bool {
	switch l.typ {
	case unix.ARPHRD_PPP, unix.ARPHRD_NONE, unix.ARPHRD_RAWIP:
		return true
	}
	return false
}

// addrMsg is one address of an RTM_NEWADDR or RTM_DELADDR.
type addrMsg struct {
	index int
	addr  netip.Addr
}

func parseAddr(m *syscall.NetlinkMessage) (addrMsg, bool) {
	if len(m.Data) < unix.SizeofIfAddrmsg {
		return addrMsg{}, false
	}
	family := m.Data[0]
	a := addrMsg{index: int(binary.NativeEndian.Uint32(m.Data[4:8]))}
	attrs, ok := routeAttrs(m.Data[unix.SizeofIfAddrmsg:])
	if !ok {
		return addrMsg{}, false
	}
	// IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's
	// on a point-to-point link (PPPoE) and the own one otherwise (IPv6
	// sends only IFA_ADDRESS).
	var local, address []byte
	for _, at := range attrs {
		switch at.typ {
		case unix.IFA_LOCAL:
			local = at.value
		case unix.IFA_ADDRESS:
			address = at.value
		}
	}
	raw := local
	if raw == nil {
		raw = address
	}
	switch {
	case family == unix.AF_INET && len(raw) == 4:
		a.addr = netip.AddrFrom4([4]byte(raw))
	case family == unix.AF_INET6 && len(raw) == 16:
		a.addr = netip.AddrFrom16([16]byte(raw))
	default:
		return addrMsg{}, false
	}
	return a, true
}

type attr struct {
	typ   uint16
	value []byte
}

// nestedAttrs splits the payload of a nested attribute, up to the first one that is cut off.
func nestedAttrs(b []byte) []attr {
	out, _ := routeAttrs(b)
	return out
}

// routeAttrs splits a message's attributes; ok is false if one is cut off or claims more bytes
// than are left.
// (syscall.ParseNetlinkRouteAttr panics on a last attribute whose length is not a multiple of
// four and that has no padding after it: found by FuzzRtnetlink.)
func routeAttrs(b []byte) (out []attr, ok bool) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b))
		if l < 4 || l > len(b) {
			return out, false
		}
		out = append(out, attr{typ: binary.NativeEndian.Uint16(b[2:]) & 0x3fff, value: b[4:l]})
		b = b[min((l+3)&^3, len(b)):]
	}
	return out, true // fewer than 4 bytes left: padding
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// linkRequest is an ifinfomsg (all zero: any family) and, for a query by
// name, an IFLA_IFNAME attribute.
func linkRequest(name string) []byte {
	b := make([]byte, unix.SizeofIfInfomsg)
	if name == "" {
		return b
	}
	v := append([]byte(name), 0)
	l := 4 + len(v)
	a := make([]byte, (l+3)&^3)
	binary.NativeEndian.PutUint16(a, uint16(l))
	binary.NativeEndian.PutUint16(a[2:], unix.IFLA_IFNAME)
	copy(a[4:], v)
	return append(b, a...)
}

// dumpLinks lists every link in the socket's namespace.
func (s *nlSocket) dumpLinks() ([]linkMsg, error) {
	msgs, err := s.request(unix.RTM_GETLINK, unix.NLM_F_DUMP, linkRequest(""))
	if err != nil {
		return nil, fmt.Errorf("listing network interfaces: %w", err)
	}
	var out []linkMsg
	for i := range msgs {
		if msgs[i].Header.Type != unix.RTM_NEWLINK {
			continue
		}
		if l, ok := parseLink(&msgs[i]); ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// dumpAddrs lists every address of every interface in the namespace.
func (s *nlSocket) dumpAddrs() ([]addrMsg, error) {
	msgs, err := s.request(unix.RTM_GETADDR, unix.NLM_F_DUMP, make([]byte, unix.SizeofIfAddrmsg))
	if err != nil {
		return nil, fmt.Errorf("listing local addresses: %w", err)
	}
	var out []addrMsg
	for i := range msgs {
		if msgs[i].Header.Type != unix.RTM_NEWADDR {
			continue
		}
		if a, ok := parseAddr(&msgs[i]); ok {
			out = append(out, a)
		}
	}
	return out, nil
}

// link asks for one link by name; ok is false if there is none.
func (s *nlSocket) link(name string) (l linkMsg, ok bool, err error) {
	msgs, err := s.request(unix.RTM_GETLINK, 0, linkRequest(name))
	if errors.Is(err, unix.ENODEV) {
		return linkMsg{}, false, nil
	}
	if err != nil {
		return linkMsg{}, false, fmt.Errorf("looking up interface %q: %w", name, err)
	}
	for i := range msgs {
		if msgs[i].Header.Type == unix.RTM_NEWLINK {
			if l, ok := parseLink(&msgs[i]); ok {
				return l, true, nil
			}
		}
	}
	return linkMsg{}, false, fmt.Errorf("looking up interface %q: no link in the answer", name)
}
