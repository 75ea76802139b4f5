package knock_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

type arrival struct {
	at      time.Time
	port    uint16
	from    netip.AddrPort
	payload []byte
}

// listenUDP opens n sockets on loopback ports the kernel picks and collects
// what arrives on any of them.
func listenUDP(t *testing.T, ip string, n int) ([]uint16, <-chan arrival) {
	t.Helper()
	ch := make(chan arrival, 64)
	var ports []uint16
	for range n {
		c, err := net.ListenPacket("udp", net.JoinHostPort(ip, "0"))
		if err != nil {
			if ip == "::1" {
				t.Skipf("IPv6 loopback unavailable (kernel without IPv6?): %v", err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
		ports = append(ports, port)
		go func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := c.(*net.UDPConn).ReadFromUDPAddrPort(buf)
				if err != nil {
					return
				}
				ch <- arrival{at: time.Now(), port: port, from: from, payload: slices.Clone(buf[:n])}
			}
		}()
	}
	return ports, ch
}

// recordingConn notes when each datagram left, so gaps are measured where
// they are made rather than after a receiver's wake-up.
type recordingConn struct {
	net.PacketConn
	mu     sync.Mutex // guards writes
	writes []time.Time
}

func (r *recordingConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, time.Now())
	r.mu.Unlock()
	return r.PacketConn.WriteTo(b, addr)
}

func TestSendRealUDP(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			listening, arrivals := listenUDP(t, ip, 3)
			// A repeated port must arrive twice, in its place.
			ports := []uint16{listening[0], listening[1], listening[0], listening[2]}
			const gap = 25 * time.Millisecond
			var (
				mu    sync.Mutex // guards conns
				conns []*recordingConn
			)
			s := &knock.Sender{
				Gap:     gap,
				Payload: []byte{0},
				Listen: func(ctx context.Context, network, address string) (net.PacketConn, error) {
					c, err := (&net.ListenConfig{}).ListenPacket(ctx, network, address)
					if err != nil {
						return nil, err
					}
					rc := &recordingConn{PacketConn: c}
					mu.Lock()
					conns = append(conns, rc)
					mu.Unlock()
					return rc, nil
				},
			}
			target, err := s.Send(context.Background(), ip, ports)
			if err != nil {
				t.Fatal(err)
			}
			if target != netip.MustParseAddr(ip) {
				t.Errorf("target %v", target)
			}
			if len(conns) != 1 {
				t.Fatalf("opened %d sockets, want 1", len(conns))
			}

			var got []arrival
			for range ports {
				select {
				case a := <-arrivals:
					got = append(got, a)
				case <-time.After(5 * time.Second):
					t.Fatalf("only %d of %d datagrams arrived", len(got), len(ports))
				}
			}
			var order []uint16
			for _, a := range got {
				order = append(order, a.port)
				if a.from != got[0].from {
					t.Errorf("datagrams from %v and %v: want one source", got[0].from, a.from)
				}
				if !slices.Equal(a.payload, []byte{0}) {
					t.Errorf("payload %x, want 00", a.payload)
				}
				if a.from.Addr() != netip.MustParseAddr(ip) {
					t.Errorf("source %v not loopback", a.from)
				}
			}
			if !slices.Equal(order, ports) {
				t.Errorf("arrival order %v, want %v", order, ports)
			}
			w := conns[0].writes
			if len(w) != len(ports) {
				t.Fatalf("%d writes", len(w))
			}
			for i := 1; i < len(w); i++ {
				if d := w[i].Sub(w[i-1]); d < gap {
					t.Errorf("gap %d was %v, want >= %v", i, d, gap)
				}
			}
		})
	}
}

// fakeConn records destinations and can fail the nth write.
type fakeConn struct {
	net.PacketConn            // nil; only the methods below are used
	mu             sync.Mutex // guards dsts and closed
	dsts           []netip.AddrPort
	payloads       [][]byte
	failAt         int // 1-based; 0 = never
	closed         bool
	onWrite        func()
}

var errBoom = errors.New("boom")

func (f *fakeConn) WriteTo(b []byte, addr net.Addr) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dsts = append(f.dsts, addr.(*net.UDPAddr).AddrPort())
	f.payloads = append(f.payloads, slices.Clone(b))
	if f.onWrite != nil {
		f.onWrite()
	}
	if len(f.dsts) == f.failAt {
		return 0, errBoom
	}
	return len(b), nil
}

func (f *fakeConn) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

func fakeListen(c *fakeConn, gotNetwork *string) func(context.Context, string, string) (net.PacketConn, error) {
	return func(_ context.Context, network, _ string) (net.PacketConn, error) {
		*gotNetwork = network
		return c, nil
	}
}

type fakeResolver struct {
	addrs []netip.Addr
	err   error
	calls int
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.calls++
	return r.addrs, r.err
}

func TestSendWriteErrorNamesPort(t *testing.T) {
	c := &fakeConn{failAt: 3}
	var network string
	s := &knock.Sender{Listen: fakeListen(c, &network)}
	_, err := s.Send(context.Background(), "192.0.2.1", []uint16{1001, 1002, 1003, 1004})
	if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "port 1003") || !strings.Contains(err.Error(), "3 of 4") {
		t.Fatalf("error %v", err)
	}
	if len(c.dsts) != 3 || !c.closed {
		t.Errorf("wrote %d, closed %v", len(c.dsts), c.closed)
	}
	if network != "udp4" {
		t.Errorf("network %q", network)
	}
}

func TestSendListenError(t *testing.T) {
	s := &knock.Sender{Listen: func(context.Context, string, string) (net.PacketConn, error) { return nil, errBoom }}
	if _, err := s.Send(context.Background(), "::1", []uint16{1}); !errors.Is(err, errBoom) || !strings.Contains(err.Error(), "udp6") {
		t.Fatalf("error %v", err)
	}
	if _, err := s.Send(context.Background(), "::1", nil); err == nil {
		t.Fatal("empty port list accepted")
	}
}

func TestSendResolves(t *testing.T) {
	v6, v4 := netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("192.0.2.7")
	c := &fakeConn{}
	var network string
	r := &fakeResolver{addrs: []netip.Addr{v6, v4}}
	s := &knock.Sender{Listen: fakeListen(c, &network), Resolver: r}
	target, err := s.Send(context.Background(), "gw.example", []uint16{5000, 6000})
	if err != nil {
		t.Fatal(err)
	}
	if target != v6 || network != "udp6" {
		t.Errorf("target %v network %q, want the first address", target, network)
	}
	want := []netip.AddrPort{netip.AddrPortFrom(v6, 5000), netip.AddrPortFrom(v6, 6000)}
	if !slices.Equal(c.dsts, want) {
		t.Errorf("sent to %v, want %v", c.dsts, want)
	}
	if len(c.payloads[0]) != 0 {
		t.Errorf("v2 payload %x, want empty", c.payloads[0])
	}

	// IPv4-mapped answers are knocked over IPv4.
	r.addrs = []netip.Addr{netip.MustParseAddr("::ffff:192.0.2.9")}
	if target, _ := s.Send(context.Background(), "gw.example", []uint16{1}); target != netip.MustParseAddr("192.0.2.9") || network != "udp4" {
		t.Errorf("mapped: %v %q", target, network)
	}

	// Literals never reach the resolver.
	r.calls = 0
	for _, lit := range []string{"192.0.2.1", "2001:db8::1", "[2001:db8::1]"} {
		if _, err := s.Send(context.Background(), lit, []uint16{1}); err != nil {
			t.Errorf("%s: %v", lit, err)
		}
	}
	if r.calls != 0 {
		t.Errorf("resolver called %d times for literals", r.calls)
	}

	for _, bad := range []*fakeResolver{{err: errBoom}, {}} {
		s.Resolver = bad
		_, err := s.Send(context.Background(), "gw.example", []uint16{1})
		var re *knock.ResolveError
		if !errors.As(err, &re) || re.Host != "gw.example" {
			t.Errorf("resolver %+v: error %v, want ResolveError", bad, err)
		}
	}
}

func TestSendCancelDuringGap(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &fakeConn{onWrite: cancel} // cancel as soon as the first datagram is out
	var network string
	s := &knock.Sender{Gap: time.Hour, Listen: fakeListen(c, &network)}
	start := time.Now()
	_, err := s.Send(ctx, "192.0.2.1", []uint16{1, 2, 3})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("cancel took %v", time.Since(start))
	}
	if len(c.dsts) != 1 {
		t.Errorf("sent %d after cancel", len(c.dsts))
	}
}

func TestChecker(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(l.Addr().(*net.TCPAddr).Port)
	c := &knock.Checker{Timeout: time.Second}
	if err := c.Check(context.Background(), "127.0.0.1", port); err != nil {
		t.Errorf("open port: %v", err)
	}
	l.Close()
	err = c.Check(context.Background(), "127.0.0.1", port)
	if err == nil || !strings.Contains(err.Error(), "tcp/") {
		t.Errorf("closed port: %v", err)
	}

	// The dial carries a deadline and the address in host:port form.
	var gotAddr string
	var hasDeadline bool
	fake := &knock.Checker{Timeout: 50 * time.Millisecond, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
		gotAddr = network + " " + addr
		_, hasDeadline = ctx.Deadline()
		<-ctx.Done() // a gateway that drops the SYN
		return nil, ctx.Err()
	}}
	start := time.Now()
	err = fake.Check(context.Background(), "2001:db8::1", 22)
	if !errors.Is(err, context.DeadlineExceeded) || gotAddr != "tcp [2001:db8::1]:22" || !hasDeadline {
		t.Errorf("err %v addr %q deadline %v", err, gotAddr, hasDeadline)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("timeout not honoured: %v", time.Since(start))
	}
}

func TestKnockerUsesClockAndParams(t *testing.T) {
	k, err := psk.Parse("AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		params  sequence.Params
		counter uint32
		want    []uint16 // from core/testdata at t=1795000000
	}{
		{sequence.Defaults(), 0, []uint16{5665, 36799, 51504, 22527}},
		{sequence.Params{Scheme: sequence.V2, Length: 4, Step: 30, Low: 40000, High: 40009}, 0, nil},
		{sequence.Defaults(), 2, nil},
		{sequence.HypDefaults(), 0, []uint16{60672, 40704, 43520, 47872}},
	} {
		p := profile.Profile{Host: "192.0.2.1", Key: k, Params: tc.params}
		c := &fakeConn{}
		var network string
		kn := &knock.Knocker{
			Sender: &knock.Sender{Listen: fakeListen(c, &network), Payload: knock.PayloadFor(tc.params.Scheme)},
			Now:    func() time.Time { return time.Unix(1795000000, 0) },
		}
		res, err := kn.Knock(context.Background(), p, tc.counter)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.want
		if want == nil {
			want, _ = sequence.PortsAt(k, tc.params, 1795000000, tc.counter)
		}
		var sent []uint16
		for _, d := range c.dsts {
			sent = append(sent, d.Port())
		}
		if !slices.Equal(res.Ports, want) || !slices.Equal(sent, want) {
			t.Errorf("%+v: result %v sent %v, want %v", tc.params, res.Ports, sent, want)
		}
		if res.Window != 1795000000/uint64(tc.params.Step) || res.Counter != tc.counter || res.Target != netip.MustParseAddr("192.0.2.1") {
			t.Errorf("result %+v", res)
		}
		wantPayload := knock.PayloadFor(tc.params.Scheme)
		if !slices.Equal(c.payloads[0], wantPayload) {
			t.Errorf("payload %x, want %x", c.payloads[0], wantPayload)
		}
	}
	if _, err := (&knock.Knocker{}).Knock(context.Background(), profile.Profile{Host: "192.0.2.1", Key: k, Params: sequence.HypDefaults()}, 1); err == nil {
		t.Error("hyp with counter 1 accepted")
	}
}
