package knockstate

import (
	"fmt"
	"testing"

	"github.com/hideyourports/hyp/core/sequence"
)

// The sites of one address with a realm each (an HA pair whose members have their own realms,
// behind one VRRP address) keep budgets apart: a use knocked with realm a's sequence is not one
// realm b's gateway has seen, so with one use per step each still has its knock.
func TestRealmsApartAtOneAddress(t *testing.T) {
	var m Memory
	k := testKey(t, 6)
	for _, realm := range []string{"a", "b", "a/b", ""} {
		if u, err := m.Reserve(k, sequence.V3Defaults(realm), "10.77.1.1", 1, at(10, 0)); err != nil || u != (Use{10, 0}) {
			t.Errorf("realm %q: %v, %v; want {10 0}, its own budget", realm, u, err)
		}
	}
	if u, _ := m.Reserve(k, sequence.V3Defaults("a"), "10.77.1.1", 1, at(10, 0)); u == (Use{10, 0}) {
		t.Errorf("realm a reserved {10 0} twice")
	}
	// v2 at the same address is apart from v3's realms too, and named as before.
	if got, want := keyName(k, sequence.Defaults(), "10.77.1.1"), fmt.Sprintf("%s/30/10.77.1.1", k.Fingerprint()); got != want {
		t.Errorf("v2 state name %q; want %q, as before realms", got, want)
	}
}
