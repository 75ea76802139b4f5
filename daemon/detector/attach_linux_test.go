package detector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/netns"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// nsOf is the lab namespace of a name newNetNS made.
func nsOf(name string) *netlab.NS { return &netlab.NS{Name: name} }

// ipIn runs one ip command (its words without the leading "ip") in a namespace.
func ipIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	if err := nsOf(ns).IPBatch(strings.Join(args, " ")); err != nil {
		t.Fatal(err)
	}
}

// vethPair joins two namespaces with a veth pair, aIf in a and bIf in b.
func vethPair(t *testing.T, a, aIf, b, bIf string) {
	t.Helper()
	if err := netlab.Veth(nsOf(a), aIf, nsOf(b), bIf); err != nil {
		t.Fatal(err)
	}
}

// newNetNS creates a named network namespace removed at cleanup, and returns
// an open fd of it (closed at cleanup too).
func newNetNS(t *testing.T, name string) int {
	t.Helper()
	return netlab.Temp(t, name).TempFD(t)
}

// udpFrom dials UDP to dst:port from a socket created in the namespace fd;
// the socket stays in that namespace whichever thread uses it.
func udpFrom(t *testing.T, nsFD int, dst netip.Addr, port uint16) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := netns.Do(nsFD, func() error {
		var err error
		c, err = net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, port)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused sends one small datagram on a connected socket and reports
// whether an ICMP port unreachable came back (the next read fails with
// ECONNREFUSED) within wait.
func refused(t *testing.T, c *net.UDPConn, wait time.Duration) bool {
	t.Helper()
	if _, err := c.Write([]byte{0}); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 64))
	var nerr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return true
	case errors.As(err, &nerr) && nerr.Timeout():
		return false
	default:
		t.Fatalf("reading after datagram: %v", err)
		return false
	}
}

func TestAttachVeth(t *testing.T) {
	needRoot(t)
	srvNS := newNetNS(t, fmt.Sprintf("hypdet-s-%d", os.Getpid()))
	cliNS := newNetNS(t, fmt.Sprintf("hypdet-c-%d", os.Getpid()))
	srvName := fmt.Sprintf("hypdet-s-%d", os.Getpid())
	cliName := fmt.Sprintf("hypdet-c-%d", os.Getpid())
	vethPair(t, srvName, "hyps0", cliName, "hypc0")
	for _, c := range [][]string{
		{"-n", srvName, "addr", "add", "10.77.9.1/24", "dev", "hyps0"},
		{"-n", srvName, "addr", "add", "fd77:9::1/64", "dev", "hyps0", "nodad"},
		{"-n", srvName, "link", "set", "hyps0", "up"},
		{"-n", cliName, "addr", "add", "10.77.9.2/24", "dev", "hypc0"},
		{"-n", cliName, "addr", "add", "fd77:9::2/64", "dev", "hypc0", "nodad"},
		{"-n", cliName, "link", "set", "hypc0", "up"},
	} {
		ipIn(t, c[1], c[2:]...)
	}

	d, err := Open(Config{Interfaces: []string{"hyps0"}, NetNS: srvNS, UDPServices: []uint16{5353}})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			d.Close()
		}
	})
	if got := d.AttachModes(); got["hyps0"] != "native" {
		t.Errorf("attach modes %v, want hyps0 native (veth supports driver mode)", got)
	}
	// A missing interface is waited for, not an error.
	d2, err := Open(Config{Interfaces: []string{"no-such-if0"}, NetNS: srvNS})
	if err != nil {
		t.Fatalf("Open with a missing interface: %v", err)
	}
	if got := d2.AttachModes(); got["no-such-if0"] != "missing" {
		t.Errorf("attach modes %v, want no-such-if0 missing", got)
	}
	if err := d2.Close(); err != nil {
		t.Error(err)
	}

	seq4 := Sequence{KeyID: 3, Window: 100, Ports: []uint16{40001, 40002, 12345, 2000}}
	seq6 := Sequence{KeyID: 4, Window: 100, Counter: 1, Ports: []uint16{50001, 1999, 61000, 33333}}
	if err := d.SetSequences([]Sequence{seq4, seq6}); err != nil {
		t.Fatal(err)
	}

	knock := func(dst netip.Addr, s Sequence, payload []byte) {
		t.Helper()
		for _, p := range s.Ports {
			c := udpFrom(t, cliNS, dst, p)
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
			time.Sleep(5 * time.Millisecond) // keep the order on the wire
		}
	}
	read := func(want Record) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got, err := d.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %+v: %v", want, err)
		}
		if got != want {
			t.Fatalf("record %+v, want %+v", got, want)
		}
	}

	knock(netip.MustParseAddr("10.77.9.1"), seq4, nil) // v2: empty payload
	read(Record{Source: netip.MustParseAddr("10.77.9.2"), KeyID: 3, Window: 100})
	knock(netip.MustParseAddr("fd77:9::1"), seq6, []byte{0}) // reference hyp: one zero byte
	read(Record{Source: netip.MustParseAddr("fd77:9::2"), KeyID: 4, Window: 100, Counter: 1})

	// Stealth: a knock-sized datagram to a closed port gets no answer at
	// all, while one to a UDP service port (nothing listening) reaches the
	// stack, which answers port unreachable.
	if refused(t, udpFrom(t, cliNS, netip.MustParseAddr("10.77.9.1"), 7777), 300*time.Millisecond) {
		t.Error("knock-sized datagram to udp/7777 was answered")
	}
	if refused(t, udpFrom(t, cliNS, netip.MustParseAddr("fd77:9::1"), 7777), 300*time.Millisecond) {
		t.Error("knock-sized datagram to [fd77:9::1]:7777 was answered")
	}
	if !refused(t, udpFrom(t, cliNS, netip.MustParseAddr("10.77.9.1"), 5353), 2*time.Second) {
		t.Error("datagram to service udp/5353 got no port unreachable: it did not pass")
	}

	c, err := d.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Completions != 2 || c.Seen < 10 {
		t.Errorf("counters %+v, want 2 completions and at least 10 seen", c)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	// Detached: the stack sees the datagram and answers.
	if !refused(t, udpFrom(t, cliNS, netip.MustParseAddr("10.77.9.1"), 7777), 2*time.Second) {
		t.Error("after Close, udp/7777 got no port unreachable: still attached?")
	}
}
