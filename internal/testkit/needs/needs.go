// Package needs lets a test say what it needs from the machine — root, a real Secret Service —
// and skip without it on a developer's laptop. Under HYP_NO_SKIP=1, which CI sets, a missing
// need fails the test instead: in CI every need is provided, so a skip there could only hide a
// failure (a lost capability, a broken setup step) behind a green run.
package needs

import (
	"os"
	"testing"
)

// NoSkipEnv is the variable that turns every missing need into a failure.
const NoSkipEnv = "HYP_NO_SKIP"

// Root skips (or, under HYP_NO_SKIP=1, fails) the test unless it runs as root; why says what
// the test does with root, so the skip message tells the reader what did not run.
func Root(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	Missing(t, "needs root: "+why)
}

// Env skips (or fails) the test unless the variable name is set to value; how tells the
// reader how to provide it.
func Env(t testing.TB, name, value, how string) {
	t.Helper()
	if os.Getenv(name) == value {
		return
	}
	Missing(t, "needs "+name+"="+value+": "+how)
}

// Missing reports a need the machine does not meet: a skip, or a failure under HYP_NO_SKIP=1.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(NoSkipEnv) == "1" {
		t.Fatalf("%s (and %s=1 forbids skipping)", reason, NoSkipEnv)
	}
	t.Skip(reason)
}
