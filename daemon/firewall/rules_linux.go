package firewall

import (
	"encoding/binary"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Names of the objects inside our table. Changing one is a layout change:
// Open deletes objects it does not know.
const (
	setAllow4    = "allow4"
	setAllow6    = "allow6"
	setProtected = "protected"
	setPublic    = "public"
	chainInput   = "input"
	chainForward = "forward"
	chainOutput  = "output"
)

// chainPriority is filter (0) minus 10. Our chains must run after conntrack
// (-200) so `ct state` is known, and after DNAT (-100) for forwarded flows.
// Running just before the usual filter tables (firewalld, ufw, iptables-nft
// and most hand-written `inet filter` tables sit at 0) means our verdict
// comes first: in stealth mode a later chain's `reject` can never answer a
// probe with an RST or ICMP error and betray a protected or stealthed port,
// without it our reject answers as the kernel does for an unused port, and
// the other tables' counters and logs do not see packets we refuse anyway.
const chainPriority nftables.ChainPriority = -10

// Register numbers as the kernel names them. A concatenated key is loaded
// into consecutive 32-bit registers starting at NFT_REG_1, which overlays
// NFT_REG32_00..03; every field takes whole 32-bit registers.
const (
	reg1    = unix.NFT_REG_1 // 16 bytes, same storage as reg32_00..03
	reg32_0 = 8              // NFT_REG32_00
)

// Kernel constants x/sys/unix does not export.
const (
	ipsDstNAT      = 1 << 5 // IPS_DST_NAT in linux/netfilter/nf_conntrack_common.h
	loopbackIfidx  = 1      // LOOPBACK_IFINDEX: lo is ifindex 1 in every netns
	ctDirOriginal  = 0      // IP_CT_DIR_ORIGINAL
	dhcpv6Client   = 546
	protoTCP       = unix.IPPROTO_TCP
	protoUDP       = unix.IPPROTO_UDP
	concatFieldLen = 4 // every field of a concatenated key is padded to one register
)

// allowKeyType is the key of allow4 (v6=false) or allow6 (v6=true).
func allowKeyType(v6 bool) nftables.SetDatatype {
	addr := nftables.TypeIPAddr
	if v6 {
		addr = nftables.TypeIP6Addr
	}
	return nftables.MustConcatSetType(addr, nftables.TypeInetProto, nftables.TypeInetService)
}

// serviceKeyType is the key of the protected and public sets.
func serviceKeyType() nftables.SetDatatype {
	return nftables.MustConcatSetType(nftables.TypeInetProto, nftables.TypeInetService)
}

// protoNumber maps a validated protected.Service protocol to its IP protocol number.
func protoNumber(proto string) (byte, error) {
	switch proto {
	case "tcp":
		return protoTCP, nil
	case "udp":
		return protoUDP, nil
	}
	return 0, fmt.Errorf("service protocol %q: must be tcp or udp", proto)
}

func protoName(n byte) (string, bool) {
	switch n {
	case protoTCP:
		return "tcp", true
	case protoUDP:
		return "udp", true
	}
	return "", false
}

// serviceKey is the element key of the protected and public sets:
// inet_proto padded to 4 bytes, then the port in network order padded to 4.
func serviceKey(s protected.Service) ([]byte, error) {
	p, err := protoNumber(s.Proto)
	if err != nil {
		return nil, err
	}
	k := make([]byte, 2*concatFieldLen)
	k[0] = p
	binary.BigEndian.PutUint16(k[concatFieldLen:], s.Port)
	return k, nil
}

// grantKey is the element key of allow4/allow6: the address (4 or 16 bytes,
// already a multiple of the register size) followed by serviceKey. The
// padding bytes must be zero: the kernel zeroes the rest of a register when
// a rule loads 1 or 2 bytes into it, and the set compares whole registers.
func grantKey(a netip.Addr, s protected.Service) ([]byte, error) {
	sk, err := serviceKey(s)
	if err != nil {
		return nil, err
	}
	return append(a.AsSlice(), sk...), nil
}

// parseGrantKey is the inverse of grantKey for an element read back.
func parseGrantKey(k []byte, v6 bool) (netip.Addr, protected.Service, error) {
	alen := 4
	if v6 {
		alen = 16
	}
	if len(k) != alen+2*concatFieldLen {
		return netip.Addr{}, protected.Service{}, fmt.Errorf("set element key: %d bytes, want %d", len(k), alen+2*concatFieldLen)
	}
	addr, _ := netip.AddrFromSlice(k[:alen])
	proto, ok := protoName(k[alen])
	if !ok {
		return netip.Addr{}, protected.Service{}, fmt.Errorf("set element key: unknown protocol %d", k[alen])
	}
	port := binary.BigEndian.Uint16(k[alen+concatFieldLen:])
	return addr, protected.Service{Proto: proto, Port: port}, nil
}

// Expression builders. Each returns the expressions of one rule; the
// comments give the nft syntax they correspond to.

func verdict(k expr.VerdictKind) *expr.Verdict { return &expr.Verdict{Kind: k} }

// ct state established,related
func ctEstablished() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{
			SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitESTABLISHED | expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// ct status & dnat == 0
func ctNotDNAT() []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATUS},
		&expr.Bitwise{
			SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(ipsDstNAT),
			Xor:  binaryutil.NativeEndian.PutUint32(0),
		},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// iif lo
func iifLoopback() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIF, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(loopbackIfidx)},
	}
}

// meta nfproto ipv4|ipv6
func nfproto(v6 bool) []expr.Any {
	p := byte(unix.NFPROTO_IPV4)
	if v6 {
		p = unix.NFPROTO_IPV6
	}
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
	}
}

// meta l4proto P
func l4proto(p byte) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{p}},
	}
}

// loadPort loads the destination port into reg: the transport header's
// (th dport) on input, conntrack's original one (ct original proto-dst)
// on forward, so a service is named by the port clients connect to even
// when the gateway DNATs it to another port on a host behind it.
func loadPort(reg uint32, original bool) expr.Any {
	if original {
		return &expr.Ct{Register: reg, Key: expr.CtKeyPROTODST, Direction: ctDirOriginal}
	}
	return &expr.Payload{DestRegister: reg, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}
}

// meta nfproto F ip[6] saddr . meta l4proto . PORT @allowF accept
func allowRule(v6, original bool) []expr.Any {
	off, alen, next := uint32(12), uint32(4), uint32(reg32_0+1)
	name := setAllow4
	if v6 {
		off, alen, next, name = 8, 16, reg32_0+4, setAllow6
	}
	e := nfproto(v6)
	return append(e,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: alen},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: next},
		loadPort(next+1, original),
		&expr.Lookup{SourceRegister: reg1, SetName: name},
		verdict(expr.VerdictAccept),
	)
}

// meta l4proto . PORT @set (then the given verdict)
func serviceRule(set string, original bool, v expr.VerdictKind, count bool) []expr.Any {
	e := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		loadPort(reg32_0+1, original),
		&expr.Lookup{SourceRegister: reg1, SetName: set},
	}
	if count {
		e = append(e, &expr.Counter{})
	}
	return append(e, verdict(v))
}

// meta nfproto ipv6 ip6 saddr fe80::/10 udp dport 546 accept — DHCPv6
// replies come from the server's link-local address to our port 546, but
// our request went to a multicast group, so conntrack never sees them as
// replies. Without this a stealthed host would lose its DHCPv6 lease.
func dhcpv6Rule() []expr.Any {
	e := nfproto(true)
	e = append(e, l4proto(protoUDP)...)
	return append(e,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 2},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 2, Mask: []byte{0xff, 0xc0}, Xor: []byte{0, 0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0xfe, 0x80}},
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.BigEndian.PutUint16(dhcpv6Client)},
		verdict(expr.VerdictAccept),
	)
}

// maxKnockUDPLen is the UDP length (header included) of the largest datagram the XDP knock
// detector takes for a possible knock: 8 bytes of header and at most 16 of payload
// (MAX_PAYLOAD in bpf/knock.c, docs/protocol.md 4).
const maxKnockUDPLen = 8 + 16

// protectedRules answer a probe of a protected port that holds no grant. In stealth mode every
// unlisted port is silent, so they drop. Otherwise an unused port of the host is closed, and a
// protected one must look the same: the kernel answers a TCP segment to a closed port with an
// RST and a UDP datagram with an ICMP port unreachable, and nftables' reject sends both through
// the kernel's own code (nf_send_reset gives its RST the sequence numbers, flags, window, TTL or
// hop limit, IP ID and DF of tcp_v4/v6_send_reset's; the ICMP errors are icmp_send/icmpv6_send's
// own, under the same per-peer ICMP rate limit as the unused ports'). Checksum errors and RSTs
// draw nothing from either. nf_send_reset6 leaves the IPv6 flow label 0 (the output chain mends
// that, see flowLabelRule). The kernel checks more than reject before it answers: the shapes it
// drops before its socket lookup are dropped at protected ports (kernelDropRules), and the shapes
// it answers otherwise than reject can (IPv4 options and DSCP echoed into its RST, a UDP datagram
// trimmed to its length field) are dropped at every port not public (probeShapeRules), so both
// say nothing. Two remain, as nftables cannot compare one header field with another or with the
// packet's length: a UDP datagram with a length field shorter than what arrived and a checksum
// right over both (the kernel quotes it trimmed, reject whole), and a non-SYN TCP segment whose
// data offset runs past the packet (the kernel drops it, reject answers). One exception is ours to make:
// the XDP detector drops, unanswered, every knock-sized datagram (payload 0..16 bytes) to the
// gateway's other ports, but lets those to a configured UDP service through to the stack; a
// knock-sized datagram to a protected UDP port is dropped here so that it, too, draws nothing.
func protectedRules(original, stealth bool) [][]expr.Any {
	drop := serviceRule(setProtected, original, expr.VerdictDrop, true)
	if stealth {
		return [][]expr.Any{drop}
	}
	lookup := func(proto byte) []expr.Any {
		return append(l4proto(proto),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			loadPort(reg32_0+1, original),
			&expr.Lookup{SourceRegister: reg1, SetName: setProtected},
		)
	}
	tcp := append(lookup(protoTCP), pkttypeHost()...)
	tcp = append(tcp, &expr.Counter{}, &expr.Reject{Type: unix.NFT_REJECT_TCP_RST})
	udp := append(lookup(protoUDP), pkttypeHost()...)
	udp = append(udp,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 4, Len: 2},
		&expr.Cmp{Op: expr.CmpOpGt, Register: reg1, Data: binaryutil.BigEndian.PutUint16(maxKnockUDPLen)},
		&expr.Counter{},
		&expr.Reject{Type: unix.NFT_REJECT_ICMPX_UNREACH, Code: unix.NFT_REJECT_ICMPX_PORT_UNREACH},
	)
	rules := append(kernelDropRules(original), tcp, udp, drop)
	if original {
		rules = append(probeShapeRules(func() []expr.Any {
			return serviceRule(setProtected, true, expr.VerdictDrop, true)
		}), rules...)
	}
	if original {
		// The host behind the gateway handles a forwarded packet's extension headers, the
		// gateway's own unused ports drop such packets (extHeaderRules): a forwarded protected
		// port must not answer them with our RST either.
		ext := append(nfproto(true), withExtHeaders()...)
		ext = append(ext, serviceRule(setProtected, true, expr.VerdictDrop, true)...)
		rules = append([][]expr.Any{ext}, rules...)
	}
	return rules
}

// meta pkttype host: the frame came to our own MAC address. The kernel's TCP ignores a segment
// that came in a broadcast or multicast frame (tcp_v4_rcv, tcp_v6_rcv: pkt_type != PACKET_HOST)
// and its ICMP code answers none (icmp_send, icmpv6_send), so an unused port says nothing to one;
// our reject would answer it with an RST (nf_send_reset does not look), and everyone on the
// uplink's segment could list the protected ports by a SYN to the gateway's address in a frame to
// ff:ff:ff:ff:ff:ff. Such a probe of a protected port falls through to the drop.
func pkttypeHost() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyPKTTYPE, Register: reg1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{unix.PACKET_HOST}},
	}
}

// ip6 nexthdr != tcp ip6 nexthdr != udp: an IPv6 packet whose transport header (meta l4proto,
// found past every extension header) does not follow the fixed header: it carries at least one
// extension header. Fragment headers are gone by the time the input and forward chains run
// (conntrack reassembles first).
func withExtHeaders() []expr.Any {
	return []expr.Any{
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 6, Len: 1},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{protoTCP}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{protoUDP}},
	}
}

// extHeaderRules decide, without stealth, every IPv6 TCP segment and UDP datagram to the gateway
// that carries an extension header, before the protected ports' reject rules can answer it. The
// kernel handles destination options, routing headers and a hop-by-hop header out of place after
// the input hook (ip6_input_finish), before TCP or UDP, and what it answers there depends on the
// header, not the port: an unknown option of type 0x80 or a routing header with segments left
// draws an ICMPv6 Parameter Problem, a type 0x40 option or a segment routing header nothing, a
// skippable option reaches TCP. Our reject would answer an RST or port unreachable to all of them
// on a protected port, and nftables can send no Parameter Problem. So all of them are dropped, on
// every port but the public ones: one answer, silence, for protected and unused ports alike.
// Legitimate TCP or UDP to a host with such headers is close to nonexistent (most of the internet
// drops it on the way); an open service of the host that is not in Config.Public loses it.
//
// AH needs no rule: nftables' transport protocol stops at an AH header (meta l4proto is ah,
// nft_set_pktinfo_ipv6 asks for IP6_FH_F_AUTH), so no rule of this table matches a packet with
// one and the kernel alone answers it (xfrm, or a Parameter Problem where no AH module is loaded),
// for every port alike; the packet xfrm authenticates comes back through the hooks without it.
//
// meta nfproto ipv6 ip6 nexthdr != { tcp, udp } meta l4proto tcp meta l4proto . th dport != @public counter drop
// meta nfproto ipv6 ip6 nexthdr != { tcp, udp } meta l4proto udp meta l4proto . th dport != @public counter drop
func extHeaderRules() [][]expr.Any {
	var rules [][]expr.Any
	for _, p := range []byte{protoTCP, protoUDP} {
		e := append(nfproto(true), withExtHeaders()...)
		e = append(e, l4proto(p)...)
		e = append(e,
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
			loadPort(reg32_0+1, false),
			&expr.Lookup{SourceRegister: reg1, SetName: setPublic, Invert: true},
			&expr.Counter{},
			verdict(expr.VerdictDrop),
		)
		rules = append(rules, e)
	}
	return rules
}

// inputRules is the input chain. Order matters: accepts for traffic we never
// touch come first, grants before the protected reject or drop, stealth last.
func inputRules(stealth bool) [][]expr.Any {
	rules := [][]expr.Any{
		append(ctEstablished(), verdict(expr.VerdictAccept)),
		append(iifLoopback(), verdict(expr.VerdictAccept)),
		allowRule(false, false),
		allowRule(true, false),
	}
	if !stealth {
		rules = append(rules, extHeaderRules()...)
		rules = append(rules, openServiceRule())
		rules = append(rules, probeShapeRules(notPublicDrop)...)
	}
	rules = append(rules, protectedRules(false, stealth)...)
	if stealth {
		// Drop, not reject: a reject answers, and an answer tells a scanner
		// the port differs from a silent one. ICMP and ICMPv6 are never
		// matched here (IPv6 neighbour discovery needs them), and whatever
		// reached this point is not established or related, so dropping
		// the remaining TCP (SYN, and also ACK/FIN/NULL probes) and UDP
		// makes every unlisted port look the same.
		rules = append(rules,
			serviceRule(setPublic, false, expr.VerdictAccept, false),
			dhcpv6Rule(),
			append(l4proto(protoTCP), &expr.Counter{}, verdict(expr.VerdictDrop)),
			append(l4proto(protoUDP), &expr.Counter{}, verdict(expr.VerdictDrop)),
		)
	} else {
		rules = append(rules, knockSizedRule(unix.RTN_LOCAL), knockSizedRule(unix.RTN_ANYCAST))
	}
	return rules
}

// knockSizedRule mirrors, without stealth, the XDP detector's drop of knock-sized datagrams
// (payload 0..16 bytes) to the gateway's own addresses on ports that are not UDP services. Most
// such datagrams never get here, but some do: those XDP does not parse (IPv6 extension headers,
// IPv4 fragments, which conntrack reassembles before this chain, double VLAN tags) and those that
// arrive on an interface hypd does not watch. Without this rule the kernel would answer them
// with an ICMP port unreachable on an unused port while a protected UDP port stays silent
// (protectedRules drops its knock-sized datagrams), and the difference would show a scanner
// which ports are protected. The protected ports' own knock-sized datagrams are dropped by the
// rule before; public UDP services pass, as in XDP (the detector passes Protected and Public
// UDP ports); replies were accepted by the first rule.
//
// The rule is there once for each address type that is the gateway's own: local, and anycast. A
// gateway that forwards IPv6 owns the subnet-router anycast address of each of its prefixes
// (prefix::); the kernel delivers datagrams to it locally and answers an unused port there with
// a port unreachable, but it is no interface address, so XDP passes them as not the gateway's.
//
// meta l4proto udp fib daddr type local udp length <= 24 meta l4proto . udp dport != @public counter drop
// meta l4proto udp fib daddr type anycast udp length <= 24 meta l4proto . udp dport != @public counter drop
func knockSizedRule(rtnType uint32) []expr.Any {
	return append(l4proto(protoUDP),
		&expr.Fib{Register: reg1, FlagDADDR: true, ResultADDRTYPE: true},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(rtnType)},
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 4, Len: 2},
		&expr.Cmp{Op: expr.CmpOpLte, Register: reg1, Data: binaryutil.BigEndian.PutUint16(maxKnockUDPLen)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		loadPort(reg32_0+1, false),
		&expr.Lookup{SourceRegister: reg1, SetName: setPublic, Invert: true},
		&expr.Counter{},
		verdict(expr.VerdictDrop),
	)
}

// forwardRules is the forward chain. It protects only flows the gateway
// DNATed (port forwards to a host behind it, such as a VPN server): plain
// routed traffic, including the LAN's own connections out to port 22
// somewhere on the internet, must never be touched. A probe of a forwarded
// protected port is answered as one of the gateway's unused ports would be:
// conntrack reverses the DNAT on the reject's RST or ICMP error, so it comes
// from the address and port the prober tried.
func forwardRules(stealth bool) [][]expr.Any {
	rules := [][]expr.Any{
		append(ctEstablished(), verdict(expr.VerdictAccept)),
		append(ctNotDNAT(), verdict(expr.VerdictAccept)),
		allowRule(false, true),
		allowRule(true, true),
	}
	return append(rules, protectedRules(true, stealth)...)
}

// unlabelledIPv6 is version 6, traffic class 0, flow label 0: the first word of the IPv6 header
// of an RST from nftables' reject.
func unlabelledIPv6() []byte { return []byte{0x60, 0, 0, 0} }

// flowLabelRule gives the RSTs our reject sends over IPv6 a flow label like the kernel's own. The
// kernel labels the RST it sends for an unused port with a hash of the flow (net.ipv6.auto_flowlabels,
// on by default); nftables' reject (nf_send_reset6) leaves the label 0, and that alone would tell
// a protected port from an unused one. The rule matches only such RSTs: related to a connection
// attempt on a protected port (reject attaches the attempt's conntrack entry to the RST, which
// the kernel's own RSTs do not carry), and still unlabelled. It writes the whole first word of
// the header: version 6, traffic class 0 as before, and a jhash of addresses and ports as the
// label.
//
// meta nfproto ipv6 meta l4proto tcp @nh,0,32 0x60000000 ct state related
// meta l4proto . ct original proto-dst @protected
// @nh,0,32 set jhash ip6 saddr . ip6 daddr . tcp sport . tcp dport mod 2^20 seed S offset 0x60000000
func flowLabelRule(fl flowLabels) []expr.Any {
	mod, offset := uint32(1<<20), uint32(0x60000000)
	if fl.stateless {
		mod, offset = 1<<19, 0x60080000 // IPV6_FLOWLABEL_STATELESS_FLAG
	}
	const hashed = reg32_0 + 9 // after the 36-byte key in reg32_00..08
	e := nfproto(true)
	e = append(e, l4proto(protoTCP)...)
	e = append(e,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: unlabelledIPv6()},
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{
			SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(expr.CtStateBitRELATED),
			Xor:  binaryutil.NativeEndian.PutUint32(0),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		loadPort(reg32_0+1, true),
		&expr.Lookup{SourceRegister: reg1, SetName: setProtected},
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 8, Len: 16},
		&expr.Payload{DestRegister: unix.NFT_REG_2, Base: expr.PayloadBaseNetworkHeader, Offset: 24, Len: 16},
		&expr.Payload{DestRegister: reg32_0 + 8, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 4},
		&expr.Hash{SourceRegister: reg1, DestRegister: hashed, Length: 36, Modulus: mod, Seed: fl.seed, Offset: offset, Type: expr.HashTypeJenkins},
		&expr.Byteorder{SourceRegister: hashed, DestRegister: hashed, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Payload{OperationType: expr.PayloadWrite, SourceRegister: hashed, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 4, CsumType: expr.CsumTypeNone},
	)
	return e
}

// outputRules is the output chain: only the flow label rule, when there are RSTs of ours to
// label (not in stealth mode, and not where the kernel leaves its own unlabelled).
func outputRules(stealth bool, fl flowLabels) [][]expr.Any {
	if stealth || !fl.on {
		return nil
	}
	return [][]expr.Any{flowLabelRule(fl)}
}

// openServiceRule lets a TCP segment to a port of the gateway that has a socket and is not
// protected pass the probe-shape drops after it (probeShapeRules): an open service of the host
// answers a SYN with a SYN-ACK whatever it says about the rest, so a probe learns nothing more
// from it, and its clients keep the SYNs a network on the way gave a DSCP or an IPv4 option. It
// decides nothing else: everything after it in the chain concerns protected ports or UDP.
// The socket expression finds no socket (and ends the rule) for an unused port.
//
// meta l4proto tcp meta l4proto . th dport != @protected socket transparent & 0 == 0 accept
func openServiceRule() []expr.Any {
	return append(l4proto(protoTCP),
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		loadPort(reg32_0+1, false),
		&expr.Lookup{SourceRegister: reg1, SetName: setProtected, Invert: true},
		&expr.Socket{Key: expr.SocketKeyTransparent, Register: reg1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{0}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0}},
		verdict(expr.VerdictAccept),
	)
}

// notPublicDrop ends a rule of the input chain with: meta l4proto . th dport != @public counter drop
func notPublicDrop() []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1},
		loadPort(reg32_0+1, false),
		&expr.Lookup{SourceRegister: reg1, SetName: setPublic, Invert: true},
		&expr.Counter{},
		verdict(expr.VerdictDrop),
	}
}

// probeShapeRules drop, without stealth, the probes the kernel answers differently from our
// reject for a reason nftables cannot copy into the reject's answer, so they must draw silence
// from protected and unused ports alike: end closes each rule on the ports it drops at (the
// input chain: every port not public; the forward chain: the protected ones).
//
//   - A TCP segment with IPv4 options: the kernel's RST echoes them (ip_send_unicast_reply,
//     __ip_options_echo: a Record Route comes back with the gateway's address in it),
//     nf_send_reset builds a bare header. A UDP datagram needs no rule: nf_send_unreach answers
//     through icmp_send, which echoes the options as for an unused port.
//   - A TCP segment with a DSCP: the kernel copies it into its RST (tcp_v4_send_reset: arg.tos,
//     tcp_v6_send_reset: ipv6_get_dsfield), nf_send_reset sends 0. An open TCP service of the host
//     passed the rule before (openServiceRule), so only unused and protected ports drop them.
//   - A UDP datagram conntrack marks invalid (length field past the packet, or below 8, or a
//     checksum wrong over the whole datagram): the kernel drops the first two before it looks
//     for a socket, and answers a datagram whose length field is shorter than what arrived after
//     trimming it (pskb_trim_rcsum), quoting the trimmed datagram, where the reject checks the
//     checksum over all of it. Where the checksum is wrong over both, both drop.
//
// meta nfproto ipv4 meta l4proto tcp ip hdrlength != 5 END
// meta nfproto ipv4 meta l4proto tcp ip dscp != 0 END
// meta nfproto ipv6 meta l4proto tcp ip6 dscp != 0 END
// meta l4proto udp ct state invalid END
func probeShapeRules(end func() []expr.Any) [][]expr.Any {
	v4 := func(off uint32, mask, neq byte) []expr.Any {
		e := append(nfproto(false), l4proto(protoTCP)...)
		e = append(e,
			&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: 1},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{mask}, Xor: []byte{0}},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{neq}},
		)
		return append(e, end()...)
	}
	v6 := append(nfproto(true), l4proto(protoTCP)...)
	v6 = append(v6,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: 0, Len: 2},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 2, Mask: []byte{0x0f, 0xc0}, Xor: []byte{0, 0}},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: []byte{0, 0}},
	)
	v6 = append(v6, end()...)
	udp := append(l4proto(protoUDP), ctStateIs(expr.CtStateBitINVALID)...)
	udp = append(udp, end()...)
	return [][]expr.Any{v4(0, 0x0f, 5), v4(1, 0xfc, 0), v6, udp}
}

// ct state S (one bit)
func ctStateIs(bit uint32) []expr.Any {
	return []expr.Any{
		&expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
		&expr.Bitwise{
			SourceRegister: reg1, DestRegister: reg1, Len: 4,
			Mask: binaryutil.NativeEndian.PutUint32(bit),
			Xor:  binaryutil.NativeEndian.PutUint32(0),
		},
		&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: binaryutil.NativeEndian.PutUint32(0)},
	}
}

// kernelDropRules drop, on protected ports, the probes the kernel drops unanswered before it
// looks for a socket (so an unused port says nothing) but nftables' reject would answer:
//
//   - a TCP header with a data offset below 5 words (tcp_v4_rcv, tcp_v6_rcv: bad_packet);
//   - a SYN conntrack marks invalid: a plain SYN is new to conntrack unless its data offset runs
//     past the packet or its checksum is wrong, and the kernel drops both; other flags are left
//     to the reject, as conntrack marks well-formed FIN, NULL, Xmas and SYN-ACK probes invalid
//     too and the kernel answers those with an RST;
//   - a SYN with a TCP MD5 signature option: the kernel finds no key for a port with no socket
//     and sends no RST (tcp_v4_send_reset: "don't send rst if it can't find key");
//   - an IPv6 UDP datagram with a zero checksum (illegal in IPv6; __udp6_lib_rcv drops it), which
//     conntrack lets pass.
//
// meta l4proto tcp @th,96,4 < 5 PROTECTED drop
// meta l4proto tcp ct state invalid tcp flags & (fin|syn|rst|ack) == syn PROTECTED drop
// meta l4proto tcp tcp option md5 exists PROTECTED drop
// meta nfproto ipv6 meta l4proto udp udp checksum 0 PROTECTED drop
func kernelDropRules(original bool) [][]expr.Any {
	end := func(e []expr.Any) []expr.Any {
		return append(e, serviceRule(setProtected, original, expr.VerdictDrop, true)...)
	}
	doff := append(l4proto(protoTCP),
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 12, Len: 1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{0xf0}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpLt, Register: reg1, Data: []byte{5 << 4}},
	)
	syn := append(l4proto(protoTCP), ctStateIs(expr.CtStateBitINVALID)...)
	syn = append(syn,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 13, Len: 1},
		&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 1, Mask: []byte{0x17}, Xor: []byte{0}},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0x02}},
	)
	md5 := append(l4proto(protoTCP),
		&expr.Exthdr{Op: expr.ExthdrOpTcpopt, DestRegister: reg1, Type: tcpOptMD5, Offset: 0, Len: 1, Flags: unix.NFT_EXTHDR_F_PRESENT},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{1}},
	)
	zero := append(nfproto(true), l4proto(protoUDP)...)
	zero = append(zero,
		&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 6, Len: 2},
		&expr.Cmp{Op: expr.CmpOpEq, Register: reg1, Data: []byte{0, 0}},
	)
	return [][]expr.Any{end(doff), end(syn), end(md5), end(zero)}
}

// tcpOptMD5 is the TCP MD5 signature option's kind (RFC 2385).
const tcpOptMD5 = 19
