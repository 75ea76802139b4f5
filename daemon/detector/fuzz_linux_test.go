package detector

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// nlBytes is m as it travels on the socket: header, then data.
func nlBytes(m syscall.NetlinkMessage) []byte {
	b := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(m.Data))
	binary.NativeEndian.PutUint32(b[0:], uint32(unix.SizeofNlMsghdr+len(m.Data)))
	binary.NativeEndian.PutUint16(b[4:], m.Header.Type)
	binary.NativeEndian.PutUint16(b[6:], m.Header.Flags)
	binary.NativeEndian.PutUint32(b[8:], m.Header.Seq)
	binary.NativeEndian.PutUint32(b[12:], m.Header.Pid)
	return append(b, m.Data...)
}

// rtattr is one route attribute, padded.
func rtattr(typ uint16, v []byte) []byte {
	b := make([]byte, 4, 4+len(v)+3)
	binary.NativeEndian.PutUint16(b, uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:], typ)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }

// kernelSeeds are the links and addresses of the namespace the test runs in, as the kernel
// sends them: real dumps, with whatever attributes this kernel adds (cut at 256 bytes).
func kernelSeeds(tb testing.TB) [][]byte {
	s, err := openNetlink(0, 0)
	if err != nil {
		tb.Logf("no kernel seeds: %v", err)
		return nil
	}
	defer s.Close()
	var out [][]byte
	links, err := s.request(unix.RTM_GETLINK, unix.NLM_F_DUMP, linkRequest(""))
	if err != nil {
		tb.Fatal(err)
	}
	addrs, err := s.request(unix.RTM_GETADDR, unix.NLM_F_DUMP, make([]byte, unix.SizeofIfAddrmsg))
	if err != nil {
		tb.Fatal(err)
	}
	for _, m := range append(links, addrs...) {
		// A link's message carries a kilobyte and more of statistics the parser skips; the
		// fuzzer would spend its time shrinking them. The attributes up to the name and the
		// XDP state stay.
		b := nlBytes(m)
		if len(b) > 256 {
			b = b[:256]
			binary.NativeEndian.PutUint32(b, 256)
		}
		out = append(out, b)
	}
	return out
}

// FuzzRtnetlink parses arbitrary datagrams the way the watcher reads its socket: split into
// messages, each read as a link or an address by its type. Nothing panics; what is accepted is
// well-formed (a name without NUL, an address of the message's family).
func FuzzRtnetlink(f *testing.F) {
	for _, b := range kernelSeeds(f) {
		f.Add(b)
	}
	ifi := make([]byte, unix.SizeofIfInfomsg)
	binary.NativeEndian.PutUint16(ifi[2:], unix.ARPHRD_ETHER)
	binary.NativeEndian.PutUint32(ifi[4:], 7)
	xdp := append(rtattr(unix.IFLA_XDP_DRV_PROG_ID, u32(42)), rtattr(unix.IFLA_XDP_SKB_PROG_ID, u32(43))...)
	link := append(append(append([]byte(nil), ifi...), rtattr(unix.IFLA_IFNAME, []byte("eth0\x00"))...), rtattr(unix.IFLA_XDP|unix.NLA_F_NESTED, xdp)...)
	f.Add(nlBytes(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWLINK}, Data: link}))
	f.Add(nlBytes(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_DELLINK}, Data: link[:unix.SizeofIfInfomsg+4]}))
	ifa := []byte{unix.AF_INET, 24, 0, 0, 3, 0, 0, 0}
	addr := append(append(append([]byte(nil), ifa...), rtattr(unix.IFA_ADDRESS, []byte{10, 77, 0, 2})...), rtattr(unix.IFA_LOCAL, []byte{10, 77, 0, 1})...)
	f.Add(nlBytes(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWADDR}, Data: addr}))
	ifa6 := []byte{unix.AF_INET6, 64, 0, 0, 3, 0, 0, 0}
	a6 := netip.MustParseAddr("fd77::1").As16()
	f.Add(nlBytes(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_DELADDR}, Data: append(ifa6, rtattr(unix.IFA_ADDRESS, a6[:])...)}))
	f.Add(nlBytes(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWADDR}, Data: append(ifa, rtattr(unix.IFA_LOCAL, a6[:])...)}))
	f.Add(nlBytes(syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.NLMSG_ERROR}, Data: u32(uint32(0xffffffed))}))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, buf []byte) {
		msgs, err := syscall.ParseNetlinkMessage(buf)
		if err != nil {
			return
		}
		for i := range msgs {
			m := &msgs[i]
			switch m.Header.Type {
			case unix.RTM_NEWLINK, unix.RTM_DELLINK:
				l, ok := parseLink(m)
				if !ok {
					continue
				}
				if strings.IndexByte(l.name, 0) >= 0 {
					t.Fatalf("link name %q holds a NUL", l.name)
				}
				_ = l.rawIP()
			case unix.RTM_NEWADDR, unix.RTM_DELADDR:
				a, ok := parseAddr(m)
				if !ok {
					continue
				}
				if !a.addr.IsValid() || a.addr.Is4() != (m.Data[0] == unix.AF_INET) || a.addr.Zone() != "" {
					t.Fatalf("address %v from a message of family %d", a.addr, m.Data[0])
				}
			}
		}
	})
}

// FuzzNestedAttrs splits arbitrary attribute payloads: every attribute lies inside the input, in
// order, and without the flag bits in its type.
func FuzzNestedAttrs(f *testing.F) {
	f.Add(append(rtattr(unix.IFLA_XDP_DRV_PROG_ID, u32(42)), rtattr(unix.IFLA_XDP_ATTACHED, []byte{1})...))
	f.Add(rtattr(unix.IFLA_XDP_SKB_PROG_ID|unix.NLA_F_NESTED, u32(1))[:6])
	f.Add([]byte{3, 0, 1, 0})
	f.Add([]byte{255, 255, 1, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		total := 0
		for _, a := range nestedAttrs(b) {
			if a.typ&^0x3fff != 0 {
				t.Fatalf("attribute type %#x keeps its flags", a.typ)
			}
			total += 4 + len(a.value)
			if total > len(b) {
				t.Fatalf("attributes of %d bytes from %d bytes of input", total, len(b))
			}
		}
	})
}

// FuzzLinkRequest: a query for any interface name reads back, as the kernel would see it, as
// that name.
func FuzzLinkRequest(f *testing.F) {
	for _, n := range []string{"eth0", "wg0", "ppp0", "a", "vlan.100@bond0", "123456789012345", "x\x00y", ""} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, name string) {
		body := linkRequest(name)
		if len(body)%4 != 0 {
			t.Fatalf("request for %q is %d bytes, not 4-aligned", name, len(body))
		}
		m := syscall.NetlinkMessage{Header: syscall.NlMsghdr{Type: unix.RTM_NEWLINK}, Data: body}
		l, ok := parseLink(&m)
		if len(name)+5 > 0xffff {
			return // longer than an attribute can carry; no interface name is
		}
		if !ok {
			t.Fatalf("request for %q does not parse", name)
		}
		want, _, _ := strings.Cut(name, "\x00")
		if l.name != want {
			t.Fatalf("request for %q reads back as %q", name, l.name)
		}
	})
}

// The parser reads the kernel's own messages: the namespace's loopback by name and index, and
// its address (FuzzRtnetlink checks only that nothing malformed gets through).
func TestParseKernelMessages(t *testing.T) {
	needRoot(t)
	ns := netlab.Temp(t, fmt.Sprintf("hypnl-%d", os.Getpid()))
	if err := ns.IPBatch("addr add 10.77.251.1/32 dev lo", "addr add fd77:251::1/128 dev lo nodad"); err != nil {
		t.Fatal(err)
	}
	var links []linkMsg
	var addrs []addrMsg
	if err := ns.Do(func() error {
		s, err := openNetlink(0, 0)
		if err != nil {
			return err
		}
		defer s.Close()
		if links, err = s.dumpLinks(); err != nil {
			return err
		}
		addrs, err = s.dumpAddrs()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(links) != 1 || links[0].name != "lo" || links[0].index != 1 || links[0].typ != unix.ARPHRD_LOOPBACK {
		t.Fatalf("links of a new namespace: %+v, want lo alone, index 1", links)
	}
	for _, want := range []string{"127.0.0.1", "::1", "10.77.251.1", "fd77:251::1"} {
		if !slices.ContainsFunc(addrs, func(a addrMsg) bool { return a.addr.String() == want && a.index == 1 }) {
			t.Errorf("addresses %+v lack %s on lo", addrs, want)
		}
	}
}
