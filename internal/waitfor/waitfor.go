// Package waitfor is the one way hyp's tests wait for a condition: poll it, with a deadline,
// and fail the test with what was awaited. A sleep of a guessed length instead is either slow
// or flaky; a hand-written deadline loop in every test says the same thing less well.
package waitfor

import (
	"testing"
	"time"
)

// Interval is how often For polls: short, since what tests wait for (an XDP attach, an nftables
// repair) takes milliseconds.
const Interval = time.Millisecond

// For polls cond until it holds and returns how long that took; it fails t (Fatalf) with what
// when within passes first.
func For(t testing.TB, what string, within time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(Interval)
	}
	return time.Since(start)
}

// Until polls cond until it holds (true) or within passes (false), for a caller that has more
// to say about a timeout than For would, or for which a timeout is itself an answer.
func Until(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(Interval)
	}
	return true
}
