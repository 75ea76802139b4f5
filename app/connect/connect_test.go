package connect_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
)

var t0 = time.Date(2026, 11, 22, 3, 20, 0, 0, time.UTC)

// fakeClock is a manual clock: timers fire when the test advances time. With
// auto set, a timer fires at once and moves time forward by its duration,
// which is what a test that only cares about the order of events wants.
type fakeClock struct {
	mu     sync.Mutex // guards now, timers
	now    time.Time
	timers []fakeTimer
	auto   bool
	armed  chan struct{} // gets a value each time a timer is armed
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newClock(auto bool) *fakeClock {
	return &fakeClock{now: t0, auto: auto, armed: make(chan struct{}, 100)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if c.auto {
		c.now = c.now.Add(d)
		ch <- c.now
		return ch, func() {}
	}
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), ch: ch})
	c.armed <- struct{}{}
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.timers = slices.DeleteFunc(c.timers, func(t fakeTimer) bool { return t.ch == ch })
	}
}

// advance moves time forward and fires the timers that are due.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.timers = slices.DeleteFunc(c.timers, func(t fakeTimer) bool {
		if !t.at.After(c.now) {
			t.ch <- c.now
			return true
		}
		return false
	})
}

type knockCall struct {
	at      time.Time
	counter uint32
}

type fakeKnocker struct {
	mu    sync.Mutex // guards calls
	calls []knockCall
	clock *fakeClock
	err   func(n int) error // error for the n-th knock (0-based), may be nil
}

func (k *fakeKnocker) Knock(ctx context.Context, p profiles.Profile, at time.Time, counter uint32) (knock.Result, error) {
	k.mu.Lock()
	n := len(k.calls)
	k.calls = append(k.calls, knockCall{at: at, counter: counter})
	k.mu.Unlock()
	if k.err != nil {
		if err := k.err(n); err != nil {
			return knock.Result{}, err
		}
	}
	return knock.Result{Target: netip.MustParseAddr("10.77.0.1"), Window: uint64(at.Unix() / 30), Ports: []uint16{1, 2, 3, 4}}, nil
}

func (k *fakeKnocker) knocks() []knockCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.calls)
}

// fakeChecker answers once the knocker has sent `after` knocks.
type fakeChecker struct {
	k      *fakeKnocker
	after  int
	mu     sync.Mutex // guards dials, target, slots
	dials  int
	target string
	slots  []time.Duration // each dial's timeout, as its context says
}

func (c *fakeChecker) Check(ctx context.Context, host string, port uint16) error {
	c.mu.Lock()
	c.dials++
	c.target = host
	if dl, ok := ctx.Deadline(); ok {
		c.slots = append(c.slots, time.Until(dl))
	}
	c.mu.Unlock()
	if len(c.k.knocks()) >= c.after {
		return nil
	}
	return errors.New("i/o timeout")
}

type fakeLauncher struct {
	mu      sync.Mutex // guards started, argv
	started int
	argv    []string
	err     error      // Start fails with this
	exit    chan error // the process exits with what arrives here
	stopped chan struct{}
}

func newLauncher() *fakeLauncher {
	return &fakeLauncher{exit: make(chan error, 1), stopped: make(chan struct{})}
}

func (l *fakeLauncher) Start(ctx context.Context, argv []string) (connect.Process, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	l.started++
	l.argv = argv
	return fakeProc{ctx: ctx, l: l}, nil
}

type fakeProc struct {
	ctx context.Context
	l   *fakeLauncher
}

func (p fakeProc) Wait() error {
	select {
	case <-p.ctx.Done():
		close(p.l.stopped)
		return errors.New("signal: terminated")
	case err := <-p.l.exit:
		return err
	}
}

type recorder struct {
	mu    sync.Mutex // guards steps
	steps []connect.Step
	ch    chan connect.Step
}

func newRecorder() *recorder { return &recorder{ch: make(chan connect.Step, 1000)} }

func (r *recorder) add(s connect.Step) {
	r.mu.Lock()
	r.steps = append(r.steps, s)
	r.mu.Unlock()
	r.ch <- s
}

func (r *recorder) kinds() []connect.StepKind {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []connect.StepKind
	for _, s := range r.steps {
		out = append(out, s.Kind)
	}
	return out
}

// waitFor returns the next step of kind k, failing on Failed or a timeout.
func (r *recorder) waitFor(t *testing.T, k connect.StepKind) connect.Step {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-r.ch:
			if s.Kind == k {
				return s
			}
			if s.Kind == connect.Failed {
				t.Fatalf("failed while waiting for %v: %v", k, s.Message)
			}
		case <-timeout:
			t.Fatalf("no %v step; got %v", k, r.kinds())
		}
	}
}

func testProfile(check uint16, command ...string) profiles.Profile {
	p, _, err := profile.Parse("hyp://gw.example.com?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")
	if err != nil {
		panic(err)
	}
	pp := profiles.FromURI("office", p)
	pp.CheckPort = check
	pp.Command = command
	return pp
}

type world struct {
	clock *fakeClock
	k     *fakeKnocker
	c     *fakeChecker
	l     *fakeLauncher
	rec   *recorder
	conn  *connect.Connector
}

func newWorld(auto bool, answerAfter int) *world {
	w := &world{clock: newClock(auto), rec: newRecorder(), l: newLauncher()}
	w.k = &fakeKnocker{clock: w.clock}
	w.c = &fakeChecker{k: w.k, after: answerAfter}
	w.conn = &connect.Connector{Knocker: w.k, Checker: w.c, Launcher: w.l, Clock: w.clock, State: &knockstate.Memory{}}
	return w
}

func TestConnectSuccess(t *testing.T) {
	w := newWorld(true, 1)
	w.l.exit <- nil // a launcher like "wg-quick up" that returns at once
	p := testProfile(443, "wg-quick", "up", "office")
	if err := w.conn.Run(context.Background(), p, w.rec.add); err != nil {
		t.Fatal(err)
	}
	want := []connect.StepKind{connect.Knocking, connect.Checking, connect.Connected, connect.Launched, connect.Exited}
	if got := w.rec.kinds(); !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	if ks := w.k.knocks(); len(ks) != 1 || !ks[0].at.Equal(t0) || ks[0].counter != 0 {
		t.Fatalf("knocks %v, want one at t0 counter 0", ks)
	}
	if w.c.target != "10.77.0.1" {
		t.Fatalf("checked %q, want the knocked address", w.c.target)
	}
	if strings.Join(w.l.argv, " ") != "wg-quick up office" {
		t.Fatalf("launched %q", w.l.argv)
	}
	for _, s := range w.rec.steps {
		if s.Profile != "office" || s.At.IsZero() || s.Message == "" {
			t.Fatalf("incomplete step %+v", s)
		}
	}
}

func TestConnectNoCheckPort(t *testing.T) {
	w := newWorld(true, 99)
	if err := w.conn.KnockOnly(context.Background(), testProfile(0), w.rec.add); err != nil {
		t.Fatal(err)
	}
	if got, want := w.rec.kinds(), []connect.StepKind{connect.Knocking, connect.Connected}; !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	if w.c.dials != 0 || w.l.started != 0 {
		t.Fatalf("dials %d, launches %d; want none", w.c.dials, w.l.started)
	}
}

// The first check times out; the retry knocks the next time step, counter 0
// (the key allows one use per step).
func TestConnectRetrySucceeds(t *testing.T) {
	w := newWorld(true, 2)
	if err := w.conn.KnockOnly(context.Background(), testProfile(443), w.rec.add); err != nil {
		t.Fatal(err)
	}
	ks := w.k.knocks()
	if len(ks) != 2 || !ks[0].at.Equal(t0) || !ks[1].at.Equal(t0.Add(30*time.Second)) || ks[1].counter != 0 {
		t.Fatalf("knocks %v, want t0 and t0+30s (the next step)", ks)
	}
	want := []connect.StepKind{connect.Knocking, connect.Checking, connect.Knocking, connect.Checking, connect.Connected}
	if got := w.rec.kinds(); !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	// The first check dialled until CheckWait was over, each dial twice as
	// long as the last from 5 ms up to 1 s: 5+10+...+640 ms, 1 s, the
	// remaining 725 ms; then the second check's first dial answered.
	if w.c.dials != 11 {
		t.Fatalf("%d dials, want 11 (10 in 3 s of doubling slots, then one answered)", w.c.dials)
	}
	want5 := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 725}
	for i, ms := range want5 {
		if got, max := w.c.slots[i], ms*time.Millisecond; got > max || got < max-max/4 {
			t.Fatalf("dial %d had %v, want %v (all: %v)", i+1, got, max, w.c.slots)
		}
	}
}

// Knocks within one step each send a sequence the gateway has not seen: the
// current window, the next, the previous; then none is left until the next
// step, and the flow says so instead of resending a spent one.
func TestConnectEveryKnockNew(t *testing.T) {
	w := newWorld(true, 1)
	p := testProfile(443)
	for i := 0; i < 3; i++ {
		w.clock.mu.Lock()
		w.clock.now = t0.Add(time.Duration(i) * time.Second)
		w.clock.mu.Unlock()
		if err := w.conn.KnockOnly(context.Background(), p, w.rec.add); err != nil {
			t.Fatalf("knock %d: %v", i+1, err)
		}
	}
	var got []time.Time
	for _, k := range w.k.knocks() {
		got = append(got, k.at)
	}
	want := []time.Time{t0, t0.Add(30 * time.Second), t0.Add(-30 * time.Second)}
	if !slices.EqualFunc(got, want, time.Time.Equal) {
		t.Fatalf("knocked windows starting %v, want %v", got, want)
	}
	// A fourth has no unspent sequence: the check port decides. It answers
	// (the grant is open), so that is success without a knock.
	if err := w.conn.KnockOnly(context.Background(), p, w.rec.add); err != nil {
		t.Fatalf("fourth knock in one step, the port answering: %v", err)
	}
	// Silent (the grant ran out), it fails saying so, not merely that the
	// budget is spent.
	w.c.mu.Lock()
	w.c.after = 99
	w.c.mu.Unlock()
	err := w.conn.KnockOnly(context.Background(), p, w.rec.add)
	var ex *knockstate.ExhaustedError
	if !errors.As(err, &ex) || !strings.Contains(err.Error(), "not knocking gw.example.com: tcp/443 on gw.example.com does not answer") ||
		!strings.Contains(err.Error(), "the grant they opened has likely run out") || !strings.Contains(err.Error(), "the next knock is accepted from 03:20:30") {
		t.Fatalf("fifth knock in one step, the port silent: %v", err)
	}
	if n := len(w.k.knocks()); n != 3 {
		t.Fatalf("%d knocks sent, want 3: the fourth and fifth have no unspent sequence", n)
	}
	// With two uses per step, the counter steps first.
	w2 := newWorld(true, 1)
	p.Uses = 2
	for i := 0; i < 3; i++ {
		if err := w2.conn.KnockOnly(context.Background(), p, w2.rec.add); err != nil {
			t.Fatal(err)
		}
	}
	ks := w2.k.knocks()
	if ks[0].counter != 0 || ks[1].counter != 1 || !ks[1].at.Equal(ks[0].at) || ks[2].counter != 0 {
		t.Fatalf("knocks with two uses %v, want counters 0, 1 in one window, then 0", ks)
	}
}

func TestConnectRetryFails(t *testing.T) {
	w := newWorld(true, 99)
	p := testProfile(443, "vpn")
	err := w.conn.Run(context.Background(), p, w.rec.add)
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("Run: %v, want a *connect.Error", err)
	}
	last := w.rec.steps[len(w.rec.steps)-1]
	if last.Kind != connect.Failed || last.Err == nil {
		t.Fatalf("last step %+v, want Failed with Err", last)
	}
	for _, want := range []string{"no answer from tcp/443", "is the clock right?", "local time is 2026-11-22 03:20:06 UTC", "i/o timeout"} {
		if !strings.Contains(last.Message, want) {
			t.Errorf("message %q lacks %q", last.Message, want)
		}
	}
	if len(w.k.knocks()) != 2 || w.l.started != 0 {
		t.Fatalf("%d knocks, %d launches; want 2 and 0", len(w.k.knocks()), w.l.started)
	}
}

func TestConnectKnockFails(t *testing.T) {
	w := newWorld(true, 1)
	w.k.err = func(int) error {
		return &knock.ResolveError{Host: "gw.example.com", Err: errors.New("no such host")}
	}
	err := w.conn.Run(context.Background(), testProfile(443, "vpn"), w.rec.add)
	if err == nil || !strings.Contains(err.Error(), "cannot find gw.example.com: no such host") {
		t.Fatalf("Run: %v", err)
	}
	var re *knock.ResolveError
	if !errors.As(err, &re) {
		t.Fatal("the resolve error is not wrapped")
	}
}

func TestConnectLaunchFails(t *testing.T) {
	w := newWorld(true, 1)
	w.l.err = errors.New(`exec: "openvpn": executable file not found in $PATH`)
	err := w.conn.Run(context.Background(), testProfile(443, "openvpn", "--config", "x"), w.rec.add)
	// The error and the step's Message tell of the command without naming it (a helper passes
	// them on to users); the step's Detail names it for its owner.
	if err == nil || !strings.Contains(err.Error(), "could not start the VPN command") || strings.Contains(err.Error(), "openvpn") || !errors.Is(err, w.l.err) {
		t.Fatalf("Run: %v", err)
	}
	if got := w.rec.kinds(); got[len(got)-1] != connect.Failed {
		t.Fatalf("steps %v, want Failed last", got)
	}
	if last := w.rec.steps[len(w.rec.steps)-1]; !strings.Contains(last.Detail, `could not start the VPN command "openvpn"`) {
		t.Fatalf("the Failed step's detail %q does not name the command", last.Detail)
	}
}

func TestConnectCommandFails(t *testing.T) {
	w := newWorld(true, 1)
	w.l.exit <- errors.New("exit status 1")
	err := w.conn.Run(context.Background(), testProfile(443, "vpn"), w.rec.add)
	if err == nil || !strings.Contains(err.Error(), "the VPN command ended: exit status 1") {
		t.Fatalf("Run: %v", err)
	}
}

// Cancel while the VPN runs: the process is stopped and Run returns
// context.Canceled with a Stopped step.
func TestConnectCancelStopsVPN(t *testing.T) {
	w := newWorld(false, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.conn.Run(ctx, testProfile(443, "vpn"), w.rec.add) }()
	w.rec.waitFor(t, connect.Launched)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	select {
	case <-w.l.stopped:
	default:
		t.Fatal("the VPN process was not stopped")
	}
	if got := w.rec.kinds(); got[len(got)-1] != connect.Stopped {
		t.Fatalf("steps %v, want Stopped last", got)
	}
}

// Cancel during the check: no second knock, no launch.
func TestConnectCancelDuringCheck(t *testing.T) {
	w := newWorld(false, 99)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.conn.Run(ctx, testProfile(443, "vpn"), w.rec.add) }()
	w.rec.waitFor(t, connect.Checking)
	<-w.clock.armed // the wait between dials
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if len(w.k.knocks()) != 1 || w.l.started != 0 {
		t.Fatalf("%d knocks, %d launches after cancel; want 1 and 0", len(w.k.knocks()), w.l.started)
	}
}

// Keep-alive knocks come exactly every KeepAlive while the VPN runs, a
// failed one does not stop the VPN, and they stop when it exits.
func TestConnectKeepAliveCadence(t *testing.T) {
	w := newWorld(false, 1)
	w.k.err = func(n int) error {
		if n == 2 {
			return errors.New("network is unreachable")
		}
		return nil
	}
	p := testProfile(443, "vpn")
	p.KeepAlive = 5 * time.Minute
	done := make(chan error, 1)
	go func() { done <- w.conn.Run(context.Background(), p, w.rec.add) }()
	w.rec.waitFor(t, connect.Launched)
	for i := 1; i <= 4; i++ {
		<-w.clock.armed
		w.clock.advance(p.KeepAlive - time.Second)
		select {
		case s := <-w.rec.ch:
			t.Fatalf("step %v before the interval was over", s)
		default:
		}
		w.clock.advance(time.Second)
		s := w.rec.waitFor(t, connect.KeepAlive)
		if want := t0.Add(time.Duration(i) * p.KeepAlive); !s.At.Equal(want) {
			t.Fatalf("keep-alive %d at %v, want %v", i, s.At, want)
		}
		if (i == 2) != (s.Err != nil) {
			t.Fatalf("keep-alive %d: err %v", i, s.Err)
		}
	}
	ks := w.k.knocks()
	if len(ks) != 5 {
		t.Fatalf("%d knocks, want 1 + 4 keep-alives", len(ks))
	}
	for i, k := range ks[1:] {
		if want := t0.Add(time.Duration(i+1) * p.KeepAlive); !k.at.Equal(want) {
			t.Fatalf("keep-alive knock %d for time %v, want %v", i+1, k.at, want)
		}
	}
	<-w.clock.armed
	w.l.exit <- errors.New("exit status 2")
	if err := <-done; err == nil || !strings.Contains(err.Error(), "exit status 2") {
		t.Fatalf("Run after the VPN exited: %v", err)
	}
	w.clock.advance(time.Hour)
	if n := len(w.k.knocks()); n != 5 {
		t.Fatalf("%d knocks after the VPN exited, want still 5", n)
	}
}

// With no command and a keep-alive (the helper's always-on profiles), Run
// knocks until cancelled.
func TestConnectKeepAliveWithoutCommand(t *testing.T) {
	w := newWorld(false, 1)
	p := testProfile(0)
	p.KeepAlive = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.conn.Run(ctx, p, w.rec.add) }()
	w.rec.waitFor(t, connect.Connected)
	for range 3 {
		<-w.clock.armed
		w.clock.advance(time.Minute)
		w.rec.waitFor(t, connect.KeepAlive)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	if n := len(w.k.knocks()); n != 4 {
		t.Fatalf("%d knocks, want 4", n)
	}
}

func TestStepKindString(t *testing.T) {
	if connect.Failed.String() != "failed" || connect.KeepAlive.String() != "keep-alive" || connect.StepKind(99).String() != "StepKind(99)" {
		t.Fatal("StepKind names")
	}
}
