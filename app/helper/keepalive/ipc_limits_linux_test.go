package keepalive_test

import (
	"context"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/helperipc"
)

// TestIPCConnectWhileUpSpendsNothing: once a profile is up, a connect asked
// over the channel (by anyone the channel admits, as often as they like)
// says it is up and sends no knock: each would spend one of the few uses the
// key has in a time step, and the VPN command is not launched again.
func TestIPCConnectWhileUpSpendsNothing(t *testing.T) {
	h := startIPCHelper(t, helperipc.Config{})
	c := h.client()
	h.checker.open.Store(true)
	if err := c.Connect(context.Background(), "office", nil); err != nil {
		t.Fatalf("connect: %v", err)
	}
	waitState(t, c, "connected", func(p helperipc.ProfileState) bool { return p.Connected })
	h.knocker.mu.Lock()
	before := len(h.knocker.hosts)
	h.knocker.mu.Unlock()
	for i := range 10 {
		var steps []helperipc.Step
		if err := c.Connect(context.Background(), "office", func(s helperipc.Step) { steps = append(steps, s) }); err != nil {
			t.Fatalf("connect %d while up: %v", i, err)
		}
		if len(steps) != 1 || steps[0].Kind != "connected" || !strings.Contains(steps[0].Message, "nothing sent") {
			t.Fatalf("connect %d while up: steps %+v, want one 'connected' saying nothing was sent", i, steps)
		}
	}
	h.knocker.mu.Lock()
	after := len(h.knocker.hosts)
	h.knocker.mu.Unlock()
	h.vpn.mu.Lock()
	launched := len(h.vpn.argv)
	h.vpn.mu.Unlock()
	if after != before || launched != 1 {
		t.Fatalf("10 connects while up: %d knock(s), %d launch(es); want none more and the one launch", after-before, launched)
	}
}
