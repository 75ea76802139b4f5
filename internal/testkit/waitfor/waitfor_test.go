package waitfor

import (
	"slices"
	"testing"
	"time"
)

// fakeClock moves only when poll sleeps, and records every pause.
type fakeClock struct {
	now    time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) Sleep(d time.Duration) {
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
}

const ms = time.Millisecond

// The pause doubles from First and stays at Max: a condition that holds at the tenth call has
// been waited for with nine pauses.
func TestPollBacksOff(t *testing.T) {
	c := &fakeClock{now: time.Unix(1000, 0)}
	calls := 0
	if !poll(c, time.Minute, func() bool { calls++; return calls == 10 }) {
		t.Fatal("poll gave up on a condition that held")
	}
	want := []time.Duration{1 * ms, 2 * ms, 4 * ms, 8 * ms, 16 * ms, 32 * ms, 64 * ms, 64 * ms, 64 * ms}
	if calls != 10 || !slices.Equal(c.sleeps, want) {
		t.Fatalf("%d calls, pauses %v; want 10 calls, pauses %v", calls, c.sleeps, want)
	}
}

// A wait of a second polls a few dozen times, not a thousand.
func TestPollCallsWithinDeadline(t *testing.T) {
	c := &fakeClock{now: time.Unix(1000, 0)}
	calls := 0
	if poll(c, time.Second, func() bool { calls++; return false }) {
		t.Fatal("poll reported a condition that never held")
	}
	if calls > 25 {
		t.Fatalf("%d calls in a second", calls)
	}
	var slept time.Duration
	for _, d := range c.sleeps {
		slept += d
	}
	// The last pause is cut short at the deadline, and cond is asked once more there.
	if slept != time.Second || calls != len(c.sleeps)+1 {
		t.Fatalf("slept %v in %d pauses, %d calls; want exactly 1s, then one last call", slept, len(c.sleeps), calls)
	}
}

// A condition that holds at once costs no pause; one that holds at the deadline is not missed.
func TestPollEdges(t *testing.T) {
	c := &fakeClock{now: time.Unix(1000, 0)}
	if !poll(c, 0, func() bool { return true }) || len(c.sleeps) != 0 {
		t.Fatalf("a condition true at once: pauses %v", c.sleeps)
	}
	start := c.now
	deadline := start.Add(100 * ms)
	if !poll(c, 100*ms, func() bool { return !c.now.Before(deadline) }) {
		t.Fatal("a condition that held at the deadline was missed")
	}
}

// For and Until on the real clock: a condition that holds returns, one that never does fails.
func TestForAndUntil(t *testing.T) {
	n := 0
	For(t, "the third call", time.Minute, func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("For returned after %d calls, want 3", n)
	}
	if Until(5*ms, func() bool { return false }) {
		t.Fatal("Until reported a condition that never held")
	}
}
