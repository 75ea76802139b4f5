package connect_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// resolvingKnocker is a fakeKnocker that resolves: names in addrs, others
// fail as a resolver would.
type resolvingKnocker struct {
	*fakeKnocker
	addrs map[string]string
}

func (k resolvingKnocker) Resolve(_ context.Context, host string) (netip.Addr, error) {
	a, ok := k.addrs[host]
	if !ok {
		return netip.Addr{}, &knock.ResolveError{Host: host, Err: errors.New("no such host")}
	}
	return netip.MustParseAddr(a), nil
}

// countingState is a Memory that counts reservations and remembers the
// gateways they were for.
type countingState struct {
	knockstate.Memory
	mu       sync.Mutex // guards gateways
	gateways []string
}

func (s *countingState) Reserve(k psk.Key, p sequence.Params, gateway string, uses int, now time.Time) (knockstate.Use, error) {
	s.mu.Lock()
	s.gateways = append(s.gateways, gateway)
	s.mu.Unlock()
	return s.Memory.Reserve(k, p, gateway, uses, now)
}

func (s *countingState) reserved() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.gateways...)
}

// With PreCheck, a check port that answers already is success without a
// knock, once a knock of ours went there lately; without, the flow knocks as
// before.
func TestPreCheckSkipsTheKnock(t *testing.T) {
	w := newWorld(true, 0) // the port answers before any knock
	st := &countingState{}
	w.conn.State, w.conn.PreCheck = st, connect.DefaultPreCheck
	p := testProfile(443)
	if err := w.conn.KnockOnly(context.Background(), p, w.rec.add); err != nil {
		t.Fatal(err)
	}
	if n := len(w.k.knocks()); n != 1 || w.c.dials != 1 {
		t.Fatalf("the first knock: %d knocks, %d dials; want one knock and its check, no look before (nothing of ours can be open)", n, w.c.dials)
	}
	for i := 2; i <= 5; i++ {
		if err := w.conn.KnockOnly(context.Background(), p, w.rec.add); err != nil {
			t.Fatalf("knock %d with the port answering: %v", i, err)
		}
	}
	if n := len(w.k.knocks()); n != 1 || len(st.reserved()) != 1 {
		t.Fatalf("%d knocks sent and %d uses reserved, want the first only: the port answered", n, len(st.reserved()))
	}
	var said string
	for _, s := range w.rec.steps {
		if s.Kind == connect.Connected {
			said = s.Message
		}
	}
	if !strings.Contains(said, "already answers from here") || !strings.Contains(said, "no knock sent") {
		t.Fatalf("the connected step says %q", said)
	}
	w.conn.PreCheck = 0
	if err := w.conn.KnockOnly(context.Background(), p, w.rec.add); err != nil || len(w.k.knocks()) != 2 {
		t.Fatalf("without PreCheck: %v, %d knocks, want a second", err, len(w.k.knocks()))
	}
}

// A name that does not resolve fails at once with the resolver's reason, and
// reserves (so spends) nothing; a name that resolves has its knocks
// budgeted, checked and sent by address.
func TestResolveBeforeSpending(t *testing.T) {
	w := newWorld(true, 1)
	st := &countingState{}
	k := resolvingKnocker{fakeKnocker: w.k, addrs: map[string]string{"gw.example.com": "10.77.0.1"}}
	w.conn.Knocker, w.conn.State = k, st
	p := testProfile(443)
	p.Host = "nosuch.invalid"
	err := w.conn.KnockOnly(context.Background(), p, w.rec.add)
	if !errors.As(err, new(*knock.ResolveError)) || !strings.Contains(err.Error(), "cannot find nosuch.invalid: no such host") {
		t.Fatalf("an unknown name: %v", err)
	}
	if len(st.reserved()) != 0 || len(w.k.knocks()) != 0 {
		t.Fatalf("an unknown name reserved %v and sent %d knocks", st.reserved(), len(w.k.knocks()))
	}
	p.Host = "gw.example.com"
	if err := w.conn.KnockOnly(context.Background(), p, w.rec.add); err != nil {
		t.Fatal(err)
	}
	if got := st.reserved(); len(got) != 1 || got[0] != "10.77.0.1" {
		t.Fatalf("reserved for %v, want the address 10.77.0.1", got)
	}
}

// A keep-alive with every use of the step spent is no failure while the
// check port answers: the grant is open.
func TestKeepAliveSpentButOpen(t *testing.T) {
	w := newWorld(false, 1)
	p := testProfile(443)
	p.KeepAlive = 5 * time.Second // four knocks within one 30-second step
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.conn.Run(ctx, p, w.rec.add) }()
	w.rec.waitFor(t, connect.Connected)
	var steps []connect.Step
	for range 4 {
		<-w.clock.armed
		w.clock.advance(p.KeepAlive)
		steps = append(steps, w.rec.waitFor(t, connect.KeepAlive))
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	for i, s := range steps {
		if s.Err != nil {
			t.Errorf("keep-alive %d failed: %v", i+1, s.Message)
		}
	}
	if last := steps[3].Message; !strings.Contains(last, "still answers") {
		t.Errorf("the keep-alive after the step's three knocks says %q", last)
	}
	if n := len(w.k.knocks()); n != 3 {
		t.Fatalf("%d knocks, want 3 (the first and two keep-alives; then none is left in the step)", n)
	}
}

// Knocks that get no answer (a revoked key, a wrong clock) spend the step's
// budget; the runs after that fail with that cause and its count, and say
// when the next knock is accepted.
func TestSpentBudgetGivesTheCause(t *testing.T) {
	w := newWorld(true, 99) // never answers
	p := testProfile(443)
	err := w.conn.KnockOnly(context.Background(), p, w.rec.add)
	if err == nil || !strings.Contains(err.Error(), "after two knocks — is the clock right?") {
		t.Fatalf("the first run: %v", err)
	}
	for i, want := range []string{"after 3 knocks — is the clock right?", "after 3 knocks — is the clock right?"} {
		err := w.conn.KnockOnly(context.Background(), p, w.rec.add)
		if !errors.As(err, new(*knockstate.ExhaustedError)) || !strings.Contains(err.Error(), "not knocking gw.example.com: no answer from tcp/443 on gw.example.com "+want) ||
			!strings.Contains(err.Error(), "the next one is accepted from") {
			t.Fatalf("run %d: %v", i+2, err)
		}
	}
	if n := len(w.k.knocks()); n != 3 {
		t.Fatalf("%d knocks, want the step's 3", n)
	}
}
