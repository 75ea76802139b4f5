package firewall

import (
	"bytes"
	"encoding/binary"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func TestGrantKeyLayout(t *testing.T) {
	for _, tc := range []struct {
		addr string
		svc  protected.Service
		want []byte
	}{
		{"10.77.1.2", protected.Service{Proto: "tcp", Port: 22}, []byte{
			10, 77, 1, 2, // ipv4_addr
			6, 0, 0, 0, // inet_proto tcp, padded to 4
			0x00, 0x16, 0, 0, // inet_service 22 big-endian, padded to 4
		}},
		{"fd77::2", protected.Service{Proto: "udp", Port: 51820}, []byte{
			0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // ipv6_addr
			17, 0, 0, 0, // inet_proto udp
			0xca, 0x6c, 0, 0, // 51820
		}},
	} {
		a := netip.MustParseAddr(tc.addr)
		got, err := grantKey(a, tc.svc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("grantKey(%s, %s) = % x, want % x", a, tc.svc, got, tc.want)
		}
		if n := allowKeyType(a.Is6()).Bytes; int(n) != len(tc.want) {
			t.Errorf("key type of %s is %d bytes, elements are %d", a, n, len(tc.want))
		}
		ba, bs, err := parseGrantKey(got, a.Is6())
		if err != nil || ba != a || bs != tc.svc {
			t.Errorf("parseGrantKey: %s %s %v", ba, bs, err)
		}
	}
	// The nft magic of a concatenation is the field types, 6 bits each.
	k4, k6 := allowKeyType(false), allowKeyType(true)
	if got, want := k4.GetNFTMagic(), uint32(7<<12|12<<6|13); got != want {
		t.Errorf("allow4 key type magic %#x, want %#x", got, want)
	}
	if got, want := k6.GetNFTMagic(), uint32(8<<12|12<<6|13); got != want {
		t.Errorf("allow6 key type magic %#x, want %#x", got, want)
	}
	if _, _, err := parseGrantKey(make([]byte, 11), false); err == nil || !strings.Contains(err.Error(), "11 bytes, want 12") {
		t.Errorf("short key: %v", err)
	}
	if _, _, err := parseGrantKey([]byte{1, 2, 3, 4, 1, 0, 0, 0, 0, 1, 0, 0}, false); err == nil || !strings.Contains(err.Error(), "unknown protocol 1") {
		t.Errorf("icmp key: %v", err)
	}
}

// recorder is a fake netlink peer: it records what was sent and acks it.
type recorder struct {
	mu   sync.Mutex // guards msgs
	msgs []netlink.Message
}

func (r *recorder) dial(req []netlink.Message) ([]netlink.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var acks []netlink.Message
	for _, m := range req {
		r.msgs = append(r.msgs, m)
		if m.Header.Flags&netlink.Acknowledge != 0 {
			acks = append(acks, netlink.Message{
				Header: netlink.Header{Type: netlink.Error, Sequence: m.Header.Sequence},
				Data:   make([]byte, 4+16), // errno 0 and the echoed header
			})
		}
	}
	return acks, nil
}

// elem is one decoded element of a NEWSETELEM/DELSETELEM message.
type elem struct {
	key     []byte
	timeout uint64 // ms, 0 if absent
}

func decodeElems(t *testing.T, m netlink.Message) (table, set string, out []elem) {
	t.Helper()
	ad, err := netlink.NewAttributeDecoder(m.Data[4:])
	if err != nil {
		t.Fatal(err)
	}
	ad.ByteOrder = binary.BigEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.NFTA_SET_ELEM_LIST_TABLE:
			table = ad.String()
		case unix.NFTA_SET_ELEM_LIST_SET:
			set = ad.String()
		case unix.NFTA_SET_ELEM_LIST_ELEMENTS:
			ad.Nested(func(list *netlink.AttributeDecoder) error {
				for list.Next() {
					var e elem
					list.Nested(func(ed *netlink.AttributeDecoder) error {
						ed.ByteOrder = binary.BigEndian
						for ed.Next() {
							switch ed.Type() {
							case unix.NFTA_SET_ELEM_KEY:
								ed.Nested(func(kd *netlink.AttributeDecoder) error {
									for kd.Next() {
										if kd.Type() == unix.NFTA_DATA_VALUE {
											e.key = kd.Bytes()
										}
									}
									return nil
								})
							case unix.NFTA_SET_ELEM_TIMEOUT:
								e.timeout = ed.Uint64()
							}
						}
						return nil
					})
					out = append(out, e)
				}
				return nil
			})
		}
	}
	if err := ad.Err(); err != nil {
		t.Fatal(err)
	}
	return table, set, out
}

// TestAllowWireFormat checks, byte for byte, the batch Allow sends: add,
// delete, add of the same elements, with the right key and a timeout.
func TestAllowWireFormat(t *testing.T) {
	rec := &recorder{}
	conn, err := nftables.New(nftables.WithTestDial(rec.dial))
	if err != nil {
		t.Fatal(err)
	}
	f := &Firewall{cfg: Config{Table: "hyp"}, conn: conn, table: &nftables.Table{Name: "hyp", Family: nftables.TableFamilyINet}}
	f.allow4, f.allow6 = f.allowSet(false), f.allowSet(true)

	for _, tc := range []struct {
		addr, set string
		svcs      []protected.Service
		keys      [][]byte
	}{
		{"::ffff:10.77.1.2", "allow4", []protected.Service{{Proto: "tcp", Port: 22}, {Proto: "udp", Port: 51820}}, [][]byte{
			{10, 77, 1, 2, 6, 0, 0, 0, 0, 22, 0, 0},
			{10, 77, 1, 2, 17, 0, 0, 0, 0xca, 0x6c, 0, 0},
		}},
		{"fd77::2%veth0", "allow6", []protected.Service{{Proto: "tcp", Port: 443}}, [][]byte{
			{0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 6, 0, 0, 0, 0x01, 0xbb, 0, 0},
		}},
	} {
		rec.msgs = nil
		if err := f.Allow(netip.MustParseAddr(tc.addr), tc.svcs, 90*time.Second, "test"); err != nil {
			t.Fatal(err)
		}
		newElem := netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_NEWSETELEM)
		delElem := netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_DELSETELEM)
		wantTypes := []netlink.HeaderType{unix.NFNL_MSG_BATCH_BEGIN, newElem, delElem, newElem, unix.NFNL_MSG_BATCH_END}
		if len(rec.msgs) != len(wantTypes) {
			t.Fatalf("%s: sent %d messages, want %d", tc.addr, len(rec.msgs), len(wantTypes))
		}
		for i, m := range rec.msgs {
			if m.Header.Type != wantTypes[i] {
				t.Errorf("%s: message %d type %#x, want %#x", tc.addr, i, m.Header.Type, wantTypes[i])
			}
		}
		for i := 1; i <= 3; i++ {
			m := rec.msgs[i]
			if m.Data[0] != unix.NFPROTO_INET {
				t.Errorf("%s: message %d family %d, want inet", tc.addr, i, m.Data[0])
			}
			table, set, elems := decodeElems(t, m)
			if table != "hyp" || set != tc.set {
				t.Errorf("%s: message %d targets %s/%s, want hyp/%s", tc.addr, i, table, set, tc.set)
			}
			if len(elems) != len(tc.keys) {
				t.Fatalf("%s: message %d has %d elements, want %d", tc.addr, i, len(elems), len(tc.keys))
			}
			for j, e := range elems {
				if !bytes.Equal(e.key, tc.keys[j]) {
					t.Errorf("%s: message %d element %d key % x, want % x", tc.addr, i, j, e.key, tc.keys[j])
				}
				if e.timeout != 90000 {
					t.Errorf("%s: message %d element %d timeout %dms, want 90000", tc.addr, i, j, e.timeout)
				}
			}
		}
	}
}

func TestAllowRejectsBadInput(t *testing.T) {
	rec := &recorder{}
	conn, err := nftables.New(nftables.WithTestDial(rec.dial))
	if err != nil {
		t.Fatal(err)
	}
	f := &Firewall{cfg: Config{Table: "hyp"}, conn: conn, table: &nftables.Table{Name: "hyp", Family: nftables.TableFamilyINet}}
	f.allow4, f.allow6 = f.allowSet(false), f.allowSet(true)
	a := netip.MustParseAddr("10.77.1.2")
	for _, tc := range []struct {
		addr netip.Addr
		svcs []protected.Service
		ttl  time.Duration
		want string
	}{
		{a, []protected.Service{{Proto: "tcp", Port: 22}}, 0, "ttl 0s: must be at least 1ms"},
		{a, nil, time.Second, "no services"},
		{a, []protected.Service{{Proto: "icmp", Port: 1}}, time.Second, `service "icmp/1"`},
		{netip.Addr{}, []protected.Service{{Proto: "tcp", Port: 22}}, time.Second, "address: not set"},
	} {
		if err := f.Allow(tc.addr, tc.svcs, tc.ttl, "test"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Allow(%v, %v, %v) = %v, want %q", tc.addr, tc.svcs, tc.ttl, err, tc.want)
		}
	}
	if len(rec.msgs) != 0 {
		t.Errorf("bad input reached netlink: %d messages", len(rec.msgs))
	}
}
