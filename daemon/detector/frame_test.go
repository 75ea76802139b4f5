package detector

import (
	"encoding/binary"
	"net/netip"
)

// frame describes one Ethernet frame for the program; bytes builds it by hand.
type frame struct {
	src, dst  netip.Addr // family picks IPv4 or IPv6
	sport     uint16
	dport     uint16
	payload   int      // UDP payload bytes (zeros)
	body      []byte   // UDP payload; overrides payload when set
	proto     uint8    // 0 = UDP
	vlans     []uint16 // TPIDs of VLAN tags, outermost first
	ipOptions int      // IPv4 option bytes (multiple of 4, at most 40)
	fragOff   uint16   // IPv4 frag_off field (flags and offset), host order
	v6Exts    []uint8  // IPv6 extension headers (next-header values) before the L4 header
	udpLen    int      // override UDP length field; 0 = correct
	pad       int      // trailing bytes after the IP packet (Ethernet padding)
}

const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86dd
	etherARP  = 0x0806
	tpid8021Q = 0x8100
	tpid8021A = 0x88a8
)

func (f frame) bytes() []byte {
	be := binary.BigEndian
	b := make([]byte, 0, 128)
	b = append(b, 0x02, 0, 0, 0, 0, 1) // dst MAC
	b = append(b, 0x02, 0, 0, 0, 0, 2) // src MAC
	for _, tpid := range f.vlans {
		b = be.AppendUint16(b, tpid)
		b = be.AppendUint16(b, 42) // TCI: VLAN 42
	}

	proto := f.proto
	if proto == 0 {
		proto = 17
	}
	var l4 []byte
	switch proto {
	case 17:
		if f.body != nil {
			f.payload = len(f.body)
		}
		ulen := 8 + f.payload
		if f.udpLen != 0 {
			ulen = f.udpLen
		}
		l4 = be.AppendUint16(l4, f.sport)
		l4 = be.AppendUint16(l4, f.dport)
		l4 = be.AppendUint16(l4, uint16(ulen))
		l4 = be.AppendUint16(l4, 0) // checksum: optional, and XDP ignores it
		if f.body != nil {
			l4 = append(l4, f.body...)
		} else {
			l4 = append(l4, make([]byte, f.payload)...)
		}
	case 6:
		l4 = be.AppendUint16(l4, f.sport)
		l4 = be.AppendUint16(l4, f.dport)
		l4 = append(l4, 0, 0, 0, 1, 0, 0, 0, 0) // seq, ack
		l4 = append(l4, 5<<4, 0x02)             // data offset, SYN
		l4 = append(l4, 0xff, 0xff, 0, 0, 0, 0) // window, checksum, urgent
	}

	if f.src.Is4() {
		b = be.AppendUint16(b, etherIPv4)
		hlen := 20 + f.ipOptions
		ip := make([]byte, hlen)
		ip[0] = 4<<4 | byte(hlen/4)
		be.PutUint16(ip[2:], uint16(hlen+len(l4)))
		be.PutUint16(ip[4:], 0x1234)
		be.PutUint16(ip[6:], f.fragOff)
		ip[8] = 64
		ip[9] = proto
		s4, d4 := f.src.As4(), f.dst.As4()
		copy(ip[12:], s4[:])
		copy(ip[16:], d4[:])
		for i := 20; i < hlen; i++ {
			ip[i] = 1 // NOP options
		}
		be.PutUint16(ip[10:], ipChecksum(ip))
		b = append(b, ip...)
	} else {
		b = be.AppendUint16(b, etherIPv6)
		// Each extension header is 8 bytes: next header, length 0, and
		// six bytes that read as padding (or a fragment header's fields).
		var ext []byte
		next := proto
		for i := len(f.v6Exts) - 1; i >= 0; i-- {
			ext = append([]byte{next, 0, 0, 0, 0, 0, 0, 1}, ext...)
			next = f.v6Exts[i]
		}
		ip := make([]byte, 40)
		ip[0] = 6 << 4
		be.PutUint16(ip[4:], uint16(len(ext)+len(l4)))
		ip[6] = next
		ip[7] = 64
		s16, d16 := f.src.As16(), f.dst.As16()
		copy(ip[8:], s16[:])
		copy(ip[24:], d16[:])
		b = append(b, ip...)
		b = append(b, ext...)
	}
	b = append(b, l4...)
	return append(b, make([]byte, f.pad)...)
}

func ipChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(h[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// arpFrame is a minimal ARP request.
func arpFrame() []byte {
	b := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 2, 0x08, 0x06}
	b = append(b, 0, 1, 0x08, 0, 6, 4, 0, 1) // htype, ptype, hlen, plen, op
	b = append(b, 0x02, 0, 0, 0, 0, 2, 10, 77, 0, 2)
	b = append(b, 0, 0, 0, 0, 0, 0, 10, 77, 0, 1)
	return b
}
