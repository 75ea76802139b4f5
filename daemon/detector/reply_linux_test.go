package detector

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// TestReplyPrefilterNAT: a host behind the gateway, masqueraded, talks UDP from a port outside
// the gateway's own ephemeral range (61234: above 60999, as a Windows client or a fixed-port
// service would); the server's 4-byte reply reaches it through the gateway with the reply
// prefilter on, because the egress program sees the datagram after NAT and stamps its port on the
// wire. An unsolicited datagram of the same size to the same port is still dropped. A prefilter
// that knew only the gateway's ephemeral range would have dropped this reply.
func TestReplyPrefilterNAT(t *testing.T) {
	gwFD, lanFD, wanFD := natLab(t, "nat", 63, "hypl1", "hypw1")

	d := openDetector(t, Config{Interfaces: []string{"hypw1"}, NetNS: gwFD, replyNow: true})
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	if !d.ReplyPrefilter() {
		t.Fatal("reply prefilter is off: the egress program did not attach")
	}

	server := netip.MustParseAddr("10.77.64.2")
	srv := listenIn(t, wanFD, "udp4", netip.AddrPortFrom(server, 53).String())
	stranger := listenIn(t, wanFD, "udp4", netip.AddrPortFrom(server, 0).String())
	go func() {
		buf := make([]byte, 512)
		for {
			_, from, err := srv.ReadFrom(buf)
			if err != nil {
				return
			}
			_, _ = srv.WriteTo([]byte{1, 2, 3, 4}, from)
		}
	}()
	host := listenIn(t, lanFD, "udp4", "10.77.63.2:61234")
	if _, err := host.WriteTo(make([]byte, 29), net.UDPAddrFromAddrPort(netip.AddrPortFrom(server, 53))); err != nil {
		t.Fatal(err)
	}
	got, ok := readWithin(t, host, 2*time.Second)
	if !ok || string(got) != "\x01\x02\x03\x04" {
		t.Fatalf("the server's 4-byte reply to the masqueraded host did not arrive (got %q, %v)", got, ok)
	}

	before, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stranger.WriteTo([]byte{1, 2, 3, 4}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("10.77.64.1"), 61234))); err != nil {
		t.Fatal(err)
	}
	if got, ok := readWithin(t, host, 300*time.Millisecond); ok {
		t.Errorf("unsolicited 4-byte datagram reached the host (%q); want it dropped", got)
	}
	after, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if after.Seen != before.Seen+1 {
		t.Errorf("seen %d -> %d, want one more for the unsolicited datagram", before.Seen, after.Seen)
	}
}

// natLab is a gateway namespace masquerading a LAN namespace's traffic out of its WAN veth, for
// the reply prefilter's tests (they need bpf_xdp_ct_lookup: skipped, saying so, without it). The
// LAN is 10.77.n.0/24 behind interface lanIf (hypn<suffix> on the host's side), the WAN
// 10.77.(n+1).0/24 on wanIf; it returns the namespaces' fds.
func natLab(t *testing.T, tag string, n int, lanIf, wanIf string) (gwFD, lanFD, wanFD int) {
	t.Helper()
	needRoot(t)
	if !haveCtLookup(t) {
		needs.Missing(t, "kernel has no bpf_xdp_ct_lookup kfunc (needs nf_conntrack with BTF, Linux 6.0+)")
	}
	gw, lan, wan := nsName(tag+"gw"), nsName(tag+"lan"), nsName(tag+"wan")
	gwFD, lanFD, wanFD = newNS(t, gw), newNS(t, lan), newNS(t, wan)
	veth(t, gw, lanIf, lan, lanIf+"p", n)
	veth(t, gw, wanIf, wan, wanIf+"p", n+1)
	sysctl(t, gw, "net.ipv4.ip_forward=1")
	ipIn(t, lan, "route", "add", "default", "via", fmt.Sprintf("10.77.%d.1", n))
	nft := nsOf(gw).Command(context.Background(), "nft", "-f", "-")
	nft.Stdin = strings.NewReader("table ip hyptestnat {\n chain post {\n  type nat hook postrouting priority srcnat; policy accept;\n  oifname \"" + wanIf + "\" masquerade\n }\n}\n")
	if out, err := nft.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	return gwFD, lanFD, wanFD
}
