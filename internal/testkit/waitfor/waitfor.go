// Package waitfor is the one way hyp's tests wait for a condition: poll it, with a deadline,
// and fail the test with what was awaited. A sleep of a guessed length instead is either slow
// or flaky; a hand-written deadline loop in every test says the same thing less well.
package waitfor

import (
	"testing"
	"time"
)

// The pause between two polls starts at First, since what tests wait for (an XDP attach, an
// nftables repair) mostly takes milliseconds, and doubles up to Max, so that a wait of seconds
// (a grant expiring, a daemon starting) does not poll a thousand times a second on a machine
// that other tests share.
const (
	First = time.Millisecond
	Max   = 64 * time.Millisecond
)

// For polls cond until it holds and returns how long that took; it fails t (Fatalf) with what
// when within passes first.
func For(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	if !poll(realClock{}, within, cond) {
		t.Fatalf("%s: not within %v", what, within)
	}
	return time.Since(start)
}

// Until polls cond until it holds (true) or within passes (false), for a caller that has more
// to say about a timeout than For would, or for which a timeout is itself an answer.
func Until(within time.Duration, cond func() bool) bool {
	return poll(realClock{}, within, cond)
}

// clock is the time as poll sees it; the tests count its sleeps instead of timing them.
type clock interface {
	Now() time.Time
	Sleep(time.Duration)
}

type realClock struct{}

func (realClock) Now() time.Time        { return time.Now() }
func (realClock) Sleep(d time.Duration) { time.Sleep(d) }

// poll calls cond until it holds or within has passed, pausing First, then twice as long each
// time up to Max, and never past the deadline: cond is called once more at the deadline, so a
// condition that holds by then is not reported as missed.
func poll(c clock, within time.Duration, cond func() bool) bool {
	deadline := c.Now().Add(within)
	pause := First
	for !cond() {
		left := deadline.Sub(c.Now())
		if left <= 0 {
			return false
		}
		c.Sleep(min(pause, left))
		pause = min(2*pause, Max)
	}
	return true
}
