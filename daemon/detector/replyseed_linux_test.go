package detector

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestReplyPrefilterSeededAtStart: UDP flows that began before the detector attached, one from
// a masqueraded host behind the gateway (port 61235) and one from the gateway itself, get their
// replies through at once, and the reply prefilter is on from the start, without the ten-minute
// warm-up the egress program alone needs (the ports were stamped from conntrack's table at
// attach). Before the seeding the prefilter stayed off for the whole window after every start.
func TestReplyPrefilterSeededAtStart(t *testing.T) {
	gwFD, lanFD, wanFD := natLab(t, "seed", 68, "hypl2", "hypw2")

	server := netip.AddrPortFrom(netip.MustParseAddr("10.77.69.2"), 53)
	srv := listenIn(t, wanFD, "udp4", server.String())
	host := listenIn(t, lanFD, "udp4", "10.77.68.2:61235")
	local := listenIn(t, gwFD, "udp4", "10.77.69.1:40001")
	// Both flows start, and reach the server, before the detector exists.
	var froms []net.Addr
	for _, c := range []*net.UDPConn{host, local} {
		if _, err := c.WriteTo(make([]byte, 29), net.UDPAddrFromAddrPort(server)); err != nil {
			t.Fatal(err)
		}
		srv.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 64)
		_, from, err := srv.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the server did not get the flow's first datagram: %v", err)
		}
		froms = append(froms, from)
	}

	d := openDetector(t, Config{Interfaces: []string{"hypw2"}, NetNS: gwFD})
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	if !d.ReplyPrefilter() {
		t.Fatal("reply prefilter is off right after attach: conntrack's flows were not stamped, so every datagram pays a conntrack lookup for the warm-up window")
	}

	// The replies come now, with nothing sent since the attach.
	for i, c := range []*net.UDPConn{host, local} {
		if _, err := srv.WriteTo([]byte{1, 2, 3, 4}, froms[i]); err != nil {
			t.Fatal(err)
		}
		got, ok := readWithin(t, c, 2*time.Second)
		if !ok || string(got) != "\x01\x02\x03\x04" {
			t.Fatalf("the reply of the flow from %v, begun before the attach, did not arrive (got %q, %v)", c.LocalAddr(), got, ok)
		}
	}

	// A datagram of the same size from the server to a port no flow uses is still dropped.
	before, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	probe := listenIn(t, gwFD, "udp4", "10.77.69.1:40002")
	if _, err := srv.WriteTo([]byte{1, 2, 3, 4}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("10.77.69.1:40002"))); err != nil {
		t.Fatal(err)
	}
	if got, ok := readWithin(t, probe, 300*time.Millisecond); ok {
		t.Errorf("unsolicited 4-byte datagram reached port 40002 (%q); want it dropped", got)
	}
	after, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after.Seen != before.Seen+1 {
		t.Errorf("seen %d -> %d, want one more for the unsolicited datagram", before.Seen, after.Seen)
	}
}

// TestReplyPrefilterGenerations: a local port's stamp lives in the current generation of the
// reply bitmap until the second rotation after the port's last datagram (a rotation comes once a
// reply window, twice conntrack's longest UDP timeout): one rotation later a reply still passes
// (and stamps the port again), two rotations after the last datagram a datagram to the port is
// dropped without asking conntrack, and the port's next datagram out exempts its replies again.
func TestReplyPrefilterGenerations(t *testing.T) {
	needRoot(t)
	if !haveCtLookup(t) {
		needs.Missing(t, "kernel has no bpf_xdp_ct_lookup kfunc (needs nf_conntrack with BTF, Linux 6.0+)")
	}
	gw, wan := nsName("gengw"), nsName("genwan")
	gwFD, wanFD := newNS(t, gw), newNS(t, wan)
	veth(t, gw, "hypw3", wan, "hypv3", 70)
	// Any conntrack user makes conntrack follow the namespace, as hypd's table does.
	nft := nsOf(gw).Command(context.Background(), "nft", "-f", "-")
	nft.Stdin = strings.NewReader("table ip hyptestgen {\n chain in {\n  type filter hook input priority 0; policy accept;\n  ct state established accept\n }\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	d := openDetector(t, Config{Interfaces: []string{"hypw3"}, NetNS: gwFD})
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	if !d.ReplyPrefilter() {
		t.Fatal("reply prefilter is off right after attach")
	}
	server := netip.AddrPortFrom(netip.MustParseAddr("10.77.70.2"), 53)
	srv := listenIn(t, wanFD, "udp4", server.String())
	local := listenIn(t, gwFD, "udp4", "10.77.70.1:40003")
	ask := func() net.Addr {
		t.Helper()
		if _, err := local.WriteTo(make([]byte, 29), net.UDPAddrFromAddrPort(server)); err != nil {
			t.Fatal(err)
		}
		srv.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, from, err := srv.ReadFrom(make([]byte, 64))
		if err != nil {
			t.Fatalf("the server did not get the query: %v", err)
		}
		return from
	}
	reply := func(to net.Addr) bool {
		t.Helper()
		if _, err := srv.WriteTo([]byte{1, 2, 3, 4}, to); err != nil {
			t.Fatal(err)
		}
		_, ok := readWithin(t, local, 500*time.Millisecond)
		return ok
	}
	rotate := func() {
		t.Helper()
		if err := d.watch.rotateReply(); err != nil {
			t.Fatal(err)
		}
	}
	from := ask()
	if !reply(from) {
		t.Fatal("the reply to the gateway's own query was dropped")
	}
	rotate()
	if !reply(from) {
		t.Fatal("one rotation after the query, its reply was dropped")
	}
	rotate()
	if !reply(from) {
		t.Fatal("one rotation after the last reply (which stamps the port), a reply was dropped")
	}
	rotate()
	rotate()
	if reply(from) {
		t.Fatal("two rotations after the port's last datagram, a datagram to it still passed the prefilter")
	}
	from = ask()
	if !reply(from) {
		t.Fatal("after a new query, its reply was dropped")
	}
}
