package connect

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/hideyourports/hyp/app/internal/knocksock"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
)

// NetKnocker is the real Knocker: a knock.Sender with the profile's gap and
// its scheme's payload, over the injected (or system) network.
type NetKnocker struct {
	Listen   func(ctx context.Context, network, address string) (net.PacketConn, error) // nil => knocksock.Listen
	Resolver knock.Resolver                                                             // nil => net.DefaultResolver
	// MaxJitter adds a random wait of up to this much to every gap (hyp
	// knock --maxjitter, as the reference client).
	MaxJitter time.Duration
}

// Knock implements Knocker.
func (n *NetKnocker) Knock(ctx context.Context, p profiles.Profile, at time.Time, counter uint32) (knock.Result, error) {
	listen := n.Listen
	if listen == nil {
		listen = knocksock.Listen // the system's socket, one that also works under wine
	}
	k := &knock.Knocker{
		Sender: &knock.Sender{Gap: p.Gap, MaxJitter: n.MaxJitter, Listen: listen, Resolver: n.Resolver, Payload: knock.PayloadFor(p.Params.Scheme)},
		Now:    func() time.Time { return at },
	}
	return k.Knock(ctx, p.Profile, counter)
}

// Resolve implements AddrResolver: the address Knock would send to, through
// the same resolver.
func (n *NetKnocker) Resolve(ctx context.Context, host string) (netip.Addr, error) {
	return (&knock.Sender{Resolver: n.Resolver}).Resolve(ctx, host)
}
