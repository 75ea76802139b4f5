// Package knock sends knock sequences and checks whether the service behind
// them answered.
//
// A knock is one UDP datagram per port, in order, from one socket: the
// gateway tracks progress per source address, and a second socket could pick
// a different source address on a multi-homed client and break the sequence.
// The network (listener, resolver, dialer) and the clock are fields, so the
// logic is tested without real DNS and errors are tested without a real
// network.
package knock

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
)

// Resolver looks up host names; *net.Resolver implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Sender sends knocks. The zero value sends with no gap and an empty payload
// through the system's network stack.
type Sender struct {
	Gap time.Duration // wait between datagrams
	// MaxJitter adds a random wait in [0, MaxJitter] to every Gap, as the
	// reference client's --maxjitter does, so the spacing is not a
	// fingerprint.
	MaxJitter time.Duration
	Listen    func(ctx context.Context, network, address string) (net.PacketConn, error) // nil => net.ListenConfig{}.ListenPacket
	Resolver  Resolver                                                                   // nil => net.DefaultResolver
	Payload   []byte                                                                     // nil/empty for v2; see PayloadFor
}

// PayloadFor returns the payload clients of a scheme send: nothing for v2,
// one zero byte for hyp as the reference client does. v3 datagrams carry
// their tags instead (SendTagged).
func PayloadFor(s sequence.Scheme) []byte {
	if s == sequence.Hyp {
		return []byte{0}
	}
	return nil
}

// ResolveError means the host could not be turned into an address; callers
// treat it as bad input rather than a network failure.
type ResolveError struct {
	Host string
	Err  error
}

func (e *ResolveError) Error() string { return fmt.Sprintf("resolving %q: %v", e.Host, e.Err) }
func (e *ResolveError) Unwrap() error { return e.Err }

// Resolve returns the address Send would knock: a literal as written (with
// or without brackets), else the first address the resolver returns.
func (s *Sender) Resolve(ctx context.Context, host string) (netip.Addr, error) {
	literal := strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(literal); err == nil {
		return a.Unmap(), nil
	}
	var r Resolver = net.DefaultResolver
	if s.Resolver != nil {
		r = s.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.Addr{}, &ResolveError{Host: host, Err: err}
	}
	if len(addrs) == 0 {
		return netip.Addr{}, &ResolveError{Host: host, Err: errors.New("no addresses")}
	}
	// The first answer is the one the system prefers (RFC 6724 order).
	return addrs[0].Unmap(), nil
}

// Send resolves host and sends one datagram to each port, in order, from one
// socket, waiting Gap (plus jitter) between datagrams. It returns the address
// knocked, which is the address a check should dial: grants are per address.
func (s *Sender) Send(ctx context.Context, host string, ports []uint16) (netip.Addr, error) {
	return s.SendTagged(ctx, host, ports, nil)
}

// SendTagged is Send for a v3 sequence: datagram i carries the 8 bytes of
// tags[i], big-endian, instead of Payload. nil tags is Send.
func (s *Sender) SendTagged(ctx context.Context, host string, ports []uint16, tags []uint64) (netip.Addr, error) {
	if len(ports) == 0 {
		return netip.Addr{}, errors.New("no ports to knock")
	}
	if tags != nil && len(tags) != len(ports) {
		return netip.Addr{}, fmt.Errorf("%d tags for %d ports", len(tags), len(ports))
	}
	target, err := s.Resolve(ctx, host)
	if err != nil {
		return netip.Addr{}, err
	}
	network := "udp6"
	if target.Is4() {
		network = "udp4"
	}
	listen := s.Listen
	if listen == nil {
		listen = (&net.ListenConfig{}).ListenPacket
	}
	conn, err := listen(ctx, network, ":0")
	if err != nil {
		return target, fmt.Errorf("opening %s socket: %w", network, err)
	}
	defer conn.Close()

	for i, port := range ports {
		if i > 0 {
			if err := sleep(ctx, s.gap()); err != nil {
				return target, fmt.Errorf("knock to %s interrupted before port %d (%d of %d): %w", target, port, i+1, len(ports), err)
			}
		}
		dst := net.UDPAddrFromAddrPort(netip.AddrPortFrom(target, port))
		payload := s.Payload
		if tags != nil {
			payload = binary.BigEndian.AppendUint64(make([]byte, 0, sequence.TagSize), tags[i])
		}
		if _, err := conn.WriteTo(payload, dst); err != nil {
			return target, fmt.Errorf("sending knock %d of %d to %s port %d: %w", i+1, len(ports), target, port, err)
		}
	}
	return target, nil
}

func (s *Sender) gap() time.Duration {
	if s.MaxJitter <= 0 {
		return s.Gap
	}
	return s.Gap + rand.N(s.MaxJitter+1)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// DefaultCheckTimeout bounds one Check dial when Checker.Timeout is 0.
const DefaultCheckTimeout = 2 * time.Second

// Checker asks whether a TCP service answers.
type Checker struct {
	Dial    func(ctx context.Context, network, address string) (net.Conn, error) // nil => net.Dialer{}.DialContext
	Timeout time.Duration                                                        // per dial; 0 => DefaultCheckTimeout
}

// Check dials host:port over TCP once and reports whether it connected.
// A gateway that has not granted the knock drops the SYN, so a failure
// usually arrives as the deadline rather than a refusal.
func (c *Checker) Check(ctx context.Context, host string, port uint16) error {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultCheckTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	dial := c.Dial
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	conn, err := dial(ctx, "tcp", net.JoinHostPort(host, fmt.Sprint(port)))
	if err != nil {
		return fmt.Errorf("checking tcp/%d on %s: %w", port, host, err)
	}
	conn.Close()
	return nil
}

// Knocker knocks a profile at the current time step.
type Knocker struct {
	Sender *Sender          // nil => a zero Sender with the scheme's payload
	Now    func() time.Time // nil => time.Now
}

// Result says what was knocked, for logs and for a check of the same address.
type Result struct {
	Target  netip.Addr
	Window  uint64
	Counter uint32
	Ports   []uint16
}

// Knock computes the ports of the current window for the profile and use
// counter and sends them.
func (k *Knocker) Knock(ctx context.Context, p profile.Profile, counter uint32) (Result, error) {
	now := time.Now
	if k.Now != nil {
		now = k.Now
	}
	unix := now().Unix()
	seq, err := sequence.At(p.Key, p.Params, unix, counter)
	if err != nil {
		return Result{}, fmt.Errorf("computing knock for %s: %w", p.Host, err)
	}
	res := Result{Window: seq.Window, Counter: counter, Ports: seq.Ports}
	s := k.Sender
	if s == nil {
		s = &Sender{Payload: PayloadFor(p.Params.Scheme)}
	}
	res.Target, err = s.SendTagged(ctx, p.Host, seq.Ports, seq.Tags)
	return res, err
}
