package detector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf/btf"

	"github.com/hideyourports/hyp/internal/netns"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// nsName is a namespace name unique to this test process.
func nsName(tag string) string { return fmt.Sprintf("hypif-%s-%d", tag, os.Getpid()) }

// newNS makes a namespace (removed at cleanup) whose interfaces skip
// duplicate address detection, so that their link-local addresses, which
// neighbour discovery needs, work at once.
func newNS(t *testing.T, name string) int {
	t.Helper()
	fd := newNetNS(t, name)
	sysctl(t, name, "net.ipv6.conf.default.accept_dad=0")
	return fd
}

// sysctl sets a sysctl inside a named namespace.
func sysctl(t *testing.T, ns, kv string) {
	t.Helper()
	nsOf(ns).Run(t, "sysctl", "-qw", kv)
}

// veth makes a veth pair between two named namespaces and addresses both
// ends in 10.77.n.0/24 and fd77:n::/64 (host 1 in a, host 2 in b).
func veth(t *testing.T, a, aIf, b, bIf string, n int) {
	t.Helper()
	vethPair(t, a, aIf, b, bIf)
	vethAddrs(t, a, aIf, b, bIf, n)
}

// vethAddrs addresses both ends of a veth pair and brings them up.
func vethAddrs(t *testing.T, a, aIf, b, bIf string, n int) {
	t.Helper()
	for _, c := range [][]string{
		{"-n", a, "addr", "add", fmt.Sprintf("10.77.%d.1/24", n), "dev", aIf},
		{"-n", a, "addr", "add", fmt.Sprintf("fd77:%d::1/64", n), "dev", aIf, "nodad"},
		{"-n", a, "link", "set", aIf, "up"},
		{"-n", b, "addr", "add", fmt.Sprintf("10.77.%d.2/24", n), "dev", bIf},
		{"-n", b, "addr", "add", fmt.Sprintf("fd77:%d::2/64", n), "dev", bIf, "nodad"},
		{"-n", b, "link", "set", bIf, "up"},
	} {
		ipIn(t, c[1], c[2:]...)
	}
}

func openDetector(t *testing.T, cfg Config) *Detector {
	t.Helper()
	d, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return d
}

// sendFrom sends payload to each port of dst, in order, from one socket in
// the namespace, paced so that the datagrams keep their order on the wire.
func sendFrom(t *testing.T, nsFD int, dst netip.Addr, payload []byte, ports ...uint16) {
	t.Helper()
	for _, p := range ports {
		c := udpFrom(t, nsFD, dst, p)
		if _, err := c.Write(payload); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func wantRead(t *testing.T, d *Detector, want Record, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	got, err := d.Read(ctx)
	if err != nil {
		t.Fatalf("waiting for %+v: %v", want, err)
	}
	if got != want {
		t.Fatalf("record %+v, want %+v", got, want)
	}
}

func ifState(d *Detector, name string) InterfaceState {
	for _, s := range d.Interfaces() {
		if s.Name == name {
			return s
		}
	}
	return InterfaceState{}
}

// listenIn opens a UDP socket in a namespace.
func listenIn(t *testing.T, nsFD int, network, address string) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := netns.Do(nsFD, func() error {
		pc, err := net.ListenPacket(network, address)
		if err != nil {
			return err
		}
		c = pc.(*net.UDPConn)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readWithin reads one datagram or reports that none came within wait.
func readWithin(t *testing.T, c *net.UDPConn, wait time.Duration) ([]byte, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, 2048)
	n, _, err := c.ReadFrom(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n], true
}

// A router runs the detector on its WAN side and forwards small UDP to a LAN
// host: the datagrams arrive, and the detector does not even count them. A
// knock to the router's LAN address, arriving on the WAN side, is still a
// knock to the gateway.
func TestRouterForwardsSmallUDP(t *testing.T) {
	needRoot(t)
	cli, rtr, lan := nsName("cli"), nsName("rtr"), nsName("lan")
	cliFD, rtrFD, lanFD := newNS(t, cli), newNS(t, rtr), newNS(t, lan)
	veth(t, rtr, "hypw0", cli, "hypc0", 60)
	veth(t, rtr, "hypl0", lan, "hypn0", 61)
	sysctl(t, rtr, "net.ipv4.ip_forward=1")
	sysctl(t, rtr, "net.ipv6.conf.all.forwarding=1")
	for _, c := range [][]string{
		{"-n", cli, "route", "add", "10.77.61.0/24", "via", "10.77.60.1"},
		{"-n", cli, "route", "add", "fd77:61::/64", "via", "fd77:60::1"},
		{"-n", lan, "route", "add", "default", "via", "10.77.61.1"},
		{"-n", lan, "route", "add", "default", "via", "fd77:61::1"},
	} {
		ipIn(t, c[1], c[2:]...)
	}

	d := openDetector(t, Config{Interfaces: []string{"hypw0"}, NetNS: rtrFD})
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	if m := ifState(d, "hypw0").Mode; m != "native" {
		t.Fatalf("hypw0 mode %q, want native", m)
	}

	for _, host := range []netip.Addr{addr("10.77.61.2"), addr("fd77:61::2")} {
		network := "udp4"
		if host.Is6() {
			network = "udp6"
		}
		// Neighbour discovery first (it waits for the link-local addresses
		// to leave DAD), so that no datagram is lost to it.
		nsOf(cli).Run(t, "ping", "-c1", "-i0.1", "-w5", host.String())
		natt := listenIn(t, lanFD, network, netip.AddrPortFrom(host, 4500).String())
		tftp := listenIn(t, lanFD, network, netip.AddrPortFrom(host, 0).String())
		tftpPort := uint16(tftp.LocalAddr().(*net.UDPAddr).Port)
		before, err := d.Counters()
		if err != nil {
			t.Fatal(err)
		}
		// A NAT-T keepalive is one 0xff byte to udp/4500; a TFTP ACK is
		// four bytes (opcode 4, block number) to the client's port.
		sendFrom(t, cliFD, host, []byte{0xff}, 4500)
		sendFrom(t, cliFD, host, []byte{0, 4, 0, 1}, tftpPort)
		if got, ok := readWithin(t, natt, 2*time.Second); !ok || string(got) != "\xff" {
			t.Errorf("NAT-T keepalive to [%v]:4500 did not arrive (got %q, %v)", host, got, ok)
		}
		if got, ok := readWithin(t, tftp, 2*time.Second); !ok || string(got) != "\x00\x04\x00\x01" {
			t.Errorf("TFTP ACK to [%v]:%d did not arrive (got %q, %v)", host, tftpPort, got, ok)
		}
		after, err := d.Counters()
		if err != nil {
			t.Fatal(err)
		}
		if after.Seen != before.Seen {
			t.Errorf("forwarded datagrams to %v were seen as knock candidates: %d -> %d", host, before.Seen, after.Seen)
		}
	}

	// The router's LAN address, knocked from the WAN side.
	sendFrom(t, cliFD, addr("10.77.61.1"), nil, seqA.Ports...)
	wantRead(t, d, Record{Source: addr("10.77.60.2"), KeyID: seqA.KeyID, Window: seqA.Window}, 5*time.Second)
	sendFrom(t, cliFD, addr("fd77:61::1"), nil, seqA.Ports...)
	wantRead(t, d, Record{Source: addr("fd77:60::2"), KeyID: seqA.KeyID, Window: seqA.Window}, 5*time.Second)
}

// haveCtLookup says whether the kernel has the conntrack lookup kfunc, in
// vmlinux or in the nf_conntrack module's BTF.
func haveCtLookup(t *testing.T) bool {
	t.Helper()
	if k, err := btf.LoadKernelSpec(); err == nil {
		if _, err := k.AnyTypeByName("bpf_xdp_ct_lookup"); err == nil {
			return true
		}
	}
	if m, err := btf.LoadKernelModuleSpec("nf_conntrack"); err == nil {
		if _, err := m.AnyTypeByName("bpf_xdp_ct_lookup"); err == nil {
			return true
		}
	}
	return false
}

// A reply to a UDP flow the gateway started (its resolver's answer, four
// bytes to the gateway's random high port) reaches the gateway's socket with
// XDP attached, once conntrack follows the namespace, as it does when hypd's
// table (which has ct state rules) exists. An unsolicited datagram of the same
// size to the same port is still dropped as a knock candidate.
func TestReplyToGatewayFlowPasses(t *testing.T) {
	testReplyToGatewayFlow(t, false)
}

// TestReplyPrefilter: the same with the reply prefilter on (as it is once the egress program has
// watched for a whole reply window, or at once where conntrack's flows were stamped at attach): the gateway's query leaves through the egress program, which
// stamps its port, so the reply is looked up in conntrack and passes; the unsolicited datagram to
// the same port is still dropped.
func TestReplyPrefilter(t *testing.T) {
	testReplyToGatewayFlow(t, true)
}

func testReplyToGatewayFlow(t *testing.T, prefilter bool) {
	needRoot(t)
	if !haveCtLookup(t) {
		needs.Missing(t, "kernel has no bpf_xdp_ct_lookup kfunc (needs nf_conntrack with BTF, Linux 6.0+): replies are judged like any datagram")
	}
	gw, res := nsName("gw"), nsName("res")
	gwFD, resFD := newNS(t, gw), newNS(t, res)
	veth(t, gw, "hyps0", res, "hypr0", 62)
	d := openDetector(t, Config{Interfaces: []string{"hyps0"}, NetNS: gwFD, replyNow: prefilter, replyWarmup: !prefilter})
	if on := d.ReplyPrefilter(); on != prefilter {
		t.Fatalf("reply prefilter on: %v, want %v", on, prefilter)
	}
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	if !d.ConntrackReplies() {
		t.Fatal("the kernel has bpf_xdp_ct_lookup but the loaded program does not call it")
	}

	for _, family := range []struct {
		network    string
		gw, server netip.Addr
	}{
		{"udp4", addr("10.77.62.1"), addr("10.77.62.2")},
		{"udp6", addr("fd77:62::1"), addr("fd77:62::2")},
	} {
		resolver := listenIn(t, resFD, family.network, netip.AddrPortFrom(family.server, 53).String())
		stranger := listenIn(t, resFD, family.network, netip.AddrPortFrom(family.server, 0).String())
		go func() {
			buf := make([]byte, 512)
			for {
				_, from, err := resolver.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = resolver.WriteTo([]byte{1, 2, 3, 4}, from)
			}
		}()
		ask := func(c *net.UDPConn) ([]byte, bool) {
			t.Helper()
			if _, err := c.WriteTo(make([]byte, 29), net.UDPAddrFromAddrPort(netip.AddrPortFrom(family.server, 53))); err != nil {
				t.Fatal(err)
			}
			return readWithin(t, c, 2*time.Second)
		}

		// Without any conntrack user in the namespace nothing is tracked,
		// so the reply looks like any knock-sized datagram and is
		// dropped: this is why the detector relies on hypd's table.
		// (Only the first family: the table, once there, stays.)
		if family.network == "udp4" {
			c := listenIn(t, gwFD, family.network, netip.AddrPortFrom(family.gw, 0).String())
			if got, ok := ask(c); ok {
				t.Fatalf("%s: reply %q arrived with no conntrack in the namespace; expected it judged as a knock", family.network, got)
			}
			nft := nsOf(gw).Command(context.Background(), "nft", "-f", "-")
			nft.Stdin = strings.NewReader("table inet hyptest {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ct state established,related accept\n }\n}\n")
			if out, err := nft.CombinedOutput(); err != nil {
				t.Fatalf("nft: %v: %s", err, out)
			}
		}

		c := listenIn(t, gwFD, family.network, netip.AddrPortFrom(family.gw, 0).String())
		port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		got, ok := ask(c)
		if !ok || string(got) != "\x01\x02\x03\x04" {
			t.Fatalf("%s: resolver's 4-byte reply to port %d did not arrive (got %q, %v)", family.network, port, got, ok)
		}
		before, err := d.Counters()
		if err != nil {
			t.Fatal(err)
		}
		// The same size from a port the gateway never talked to.
		if _, err := stranger.WriteTo([]byte{1, 2, 3, 4}, net.UDPAddrFromAddrPort(netip.AddrPortFrom(family.gw, port))); err != nil {
			t.Fatal(err)
		}
		if got, ok := readWithin(t, c, 300*time.Millisecond); ok {
			t.Errorf("%s: unsolicited 4-byte datagram arrived (%q); want it dropped", family.network, got)
		}
		after, err := d.Counters()
		if err != nil {
			t.Fatal(err)
		}
		if after.Seen != before.Seen+1 {
			t.Errorf("%s: seen %d -> %d, want one more for the unsolicited datagram", family.network, before.Seen, after.Seen)
		}
	}
}

// events collects OnInterface calls.
type events struct {
	mu  sync.Mutex // guards got
	got []InterfaceState
}

func (e *events) add(s InterfaceState) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, s)
}

func (e *events) has(name, mode string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.got {
		if s.Name == name && s.Mode == mode {
			return true
		}
	}
	return false
}

// The interface is deleted and re-created with the same name (a PPPoE
// reconnect, a rebuilt VLAN): the detector attaches to the new one at once,
// says so, and a knock through it completes.
func TestInterfaceRecreated(t *testing.T) {
	needRoot(t)
	gw, cl := nsName("gw"), nsName("cl")
	gwFD, clFD := newNS(t, gw), newNS(t, cl)
	veth(t, gw, "hyps0", cl, "hypc0", 63)
	ev := &events{}
	d := openDetector(t, Config{Interfaces: []string{"hyps0"}, NetNS: gwFD, OnInterface: ev.add})
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	first := ifState(d, "hyps0")
	if first.Mode != "native" || first.Index == 0 {
		t.Fatalf("at Open: %+v, want native with an index", first)
	}
	gwAddr, clAddr := addr("10.77.63.1"), addr("10.77.63.2")
	sendFrom(t, clFD, gwAddr, nil, seqA.Ports...)
	wantRead(t, d, Record{Source: clAddr, KeyID: seqA.KeyID, Window: seqA.Window}, 5*time.Second)

	for round := range 2 {
		ipIn(t, gw, "link", "del", "hyps0")
		took := waitfor.For(t, "hyps0 reported missing", 2*time.Second, func() bool { return ev.has("hyps0", "missing") })
		t.Logf("round %d: deletion noticed after %v", round, took)
		if s := ifState(d, "hyps0"); s.Mode != "missing" || s.Index != 0 {
			t.Errorf("after deletion: %+v, want missing", s)
		}
		ev.mu.Lock()
		ev.got = nil
		ev.mu.Unlock()

		vethPair(t, gw, "hyps0", cl, "hypc0")
		took = waitfor.For(t, "XDP on the re-created hyps0", time.Second, func() bool { return ifState(d, "hyps0").Mode == "native" })
		t.Logf("round %d: re-attached %v after `ip link add` returned", round, took)
		vethAddrs(t, gw, "hyps0", cl, "hypc0", 63)
		s := ifState(d, "hyps0")
		if s.Index == first.Index || s.Index == 0 {
			t.Errorf("re-created hyps0 has index %d, the old one had %d", s.Index, first.Index)
		}
		waitfor.For(t, "OnInterface told of the re-attachment", time.Second, func() bool { return ev.has("hyps0", "native") })
		if got := d.AttachModes()["hyps0"]; got != "native" {
			t.Errorf("AttachModes %q, want native", got)
		}

		// The address came back too, so knocks to it are judged again.
		sendFrom(t, clFD, gwAddr, nil, seqA.Ports...)
		wantRead(t, d, Record{Source: clAddr, KeyID: seqA.KeyID, Window: seqA.Window}, 5*time.Second)
		// And it is really this program dropping: no port unreachable.
		if refused(t, udpFrom(t, clFD, gwAddr, 7777), 300*time.Millisecond) {
			t.Error("knock-sized datagram to udp/7777 was answered after re-attaching")
		}
	}
}

// An interface missing at Open is waited for: Open succeeds, reports it
// missing, and attaches when it appears.
func TestInterfaceMissingAtOpen(t *testing.T) {
	needRoot(t)
	gw, cl := nsName("gw"), nsName("cl")
	gwFD, clFD := newNS(t, gw), newNS(t, cl)
	ev := &events{}
	d := openDetector(t, Config{Interfaces: []string{"hyps0"}, NetNS: gwFD, OnInterface: ev.add})
	if err := d.SetSequences([]Sequence{seqA}); err != nil {
		t.Fatal(err)
	}
	if s := ifState(d, "hyps0"); s.Mode != "missing" || s.Index != 0 {
		t.Fatalf("at Open: %+v, want missing", s)
	}
	if got := d.AttachModes(); got["hyps0"] != "missing" {
		t.Errorf("AttachModes %v, want hyps0 missing", got)
	}

	vethPair(t, gw, "hyps0", cl, "hypc0")
	took := waitfor.For(t, "XDP on the new hyps0", time.Second, func() bool { return ifState(d, "hyps0").Mode == "native" })
	t.Logf("attached %v after `ip link add` returned", took)
	vethAddrs(t, gw, "hyps0", cl, "hypc0", 64)
	waitfor.For(t, "OnInterface told of the attachment", time.Second, func() bool { return ev.has("hyps0", "native") })

	sendFrom(t, clFD, addr("10.77.64.1"), nil, seqA.Ports...)
	wantRead(t, d, Record{Source: addr("10.77.64.2"), KeyID: seqA.KeyID, Window: seqA.Window}, 5*time.Second)
	sendFrom(t, clFD, addr("fd77:64::1"), nil, seqA.Ports...)
	wantRead(t, d, Record{Source: addr("fd77:64::2"), KeyID: seqA.KeyID, Window: seqA.Window}, 5*time.Second)
}

// The local-address map follows the namespace: addresses added and deleted
// after Open, an address held by two interfaces (kept until both drop it),
// and every address of a deleted interface.
func TestLocalAddrsFollowed(t *testing.T) {
	needRoot(t)
	gw, cl := nsName("gw"), nsName("cl")
	gwFD := newNS(t, gw)
	newNS(t, cl)
	veth(t, gw, "hyps0", cl, "hypc0", 66)
	ipIn(t, gw, "link", "add", "hyps1", "type", "veth", "peer", "name", "hyps2")
	d := openDetector(t, Config{Interfaces: []string{"hyps0"}, NetNS: gwFD})
	has := func(a netip.Addr) bool {
		var v uint8
		return d.objs.LocalAddrs.Lookup(addrKey(a), &v) == nil
	}
	for _, a := range []netip.Addr{addr("10.77.66.1"), addr("fd77:66::1")} {
		if !has(a) {
			t.Errorf("%v not in the map at Open", a)
		}
	}
	if has(addr("10.77.66.2")) {
		t.Error("the peer's address is in the map")
	}
	d.setMu.Lock()
	filter := d.settings.LocalFilter
	d.setMu.Unlock()
	if filter != 1 {
		t.Errorf("local filter %d after Open, want 1", filter)
	}

	extra := addr("10.77.66.9")
	ipIn(t, gw, "addr", "add", extra.String()+"/24", "dev", "hyps0")
	waitfor.For(t, "added address in the map", time.Second, func() bool { return has(extra) })
	ipIn(t, gw, "addr", "add", extra.String()+"/32", "dev", "hyps1")
	ipIn(t, gw, "addr", "del", extra.String()+"/24", "dev", "hyps0")
	// The deletion from hyps0 is handled once a later event is: add a
	// marker and wait for it, then the shared address must still be there.
	marker := addr("fd77:66::99")
	ipIn(t, gw, "addr", "add", marker.String()+"/128", "dev", "hyps1", "nodad")
	waitfor.For(t, "marker address in the map", time.Second, func() bool { return has(marker) })
	if !has(extra) {
		t.Errorf("%v dropped from the map while hyps1 still holds it", extra)
	}
	ipIn(t, gw, "link", "del", "hyps1")
	waitfor.For(t, "addresses of the deleted hyps1 gone", time.Second, func() bool { return !has(extra) && !has(marker) })
	if !has(addr("10.77.66.1")) {
		t.Error("hyps0's address went with hyps1")
	}
}

// When the event queue overflows (a burst of changes faster than the watcher
// reads) events are lost; the watcher starts again from dumps, and the map
// ends up holding exactly the namespace's addresses.
func TestEventOverflowResyncs(t *testing.T) {
	needRoot(t)
	gw, cl := nsName("gw"), nsName("cl")
	gwFD := newNS(t, gw)
	newNS(t, cl)
	veth(t, gw, "hyps0", cl, "hypc0", 67)
	ipIn(t, gw, "link", "add", "hyps1", "type", "veth", "peer", "name", "hyps2")
	// The smallest buffer the kernel allows holds a few messages.
	d := openDetector(t, Config{Interfaces: []string{"hyps0"}, NetNS: gwFD, eventBuf: 1})
	has := func(a netip.Addr) bool {
		var v uint8
		return d.objs.LocalAddrs.Lookup(addrKey(a), &v) == nil
	}
	var burst []netip.Addr
	var add, del strings.Builder
	for i := 1; i <= 250; i++ {
		for _, a := range []netip.Addr{netip.AddrFrom4([4]byte{10, 77, 68, byte(i)}), netip.MustParseAddr(fmt.Sprintf("fd77:68::%x", i))} {
			burst = append(burst, a)
			fmt.Fprintf(&add, "addr add %s dev hyps1 nodad\n", a)
			fmt.Fprintf(&del, "addr del %s dev hyps1\n", a)
		}
	}
	batch := func(cmds string) {
		t.Helper()
		if err := nsOf(gw).IPBatch(strings.Split(strings.TrimSuffix(cmds, "\n"), "\n")...); err != nil {
			t.Fatal(err)
		}
	}
	all := func(want bool) func() bool {
		return func() bool {
			for _, a := range burst {
				if has(a) != want {
					return false
				}
			}
			return true
		}
	}
	// Bursts until one overflowed the queue (almost always the first);
	// after each the map must match the namespace.
	for round := 0; round < 5 && d.watch.resyncs.Load() == 0; round++ {
		batch(add.String())
		took := waitfor.For(t, "every added address in the map", 5*time.Second, all(true))
		t.Logf("round %d: %d addresses added in one burst: all in the map %v after the burst, %d resyncs so far",
			round, len(burst), took, d.watch.resyncs.Load())
		batch(del.String())
		waitfor.For(t, "every deleted address gone from the map", 5*time.Second, all(false))
	}
	if d.watch.resyncs.Load() == 0 {
		t.Error("the event queue never overflowed: the resync path was not exercised")
	}
	if !has(addr("10.77.67.1")) {
		t.Error("hyps0's address lost in the resync")
	}
	d.setMu.Lock()
	filter := d.settings.LocalFilter
	d.setMu.Unlock()
	if filter != 1 {
		t.Errorf("local filter %d after the resyncs, want 1", filter)
	}
}
