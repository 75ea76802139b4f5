package server

import (
	"fmt"

	"github.com/hideyourports/hyp/bpf"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
)

// Tags sizes the detector's tag map for keys, as Slots sizes its sequence
// slots: every datagram of every v3 sequence that can be live at once (the
// windows of a step and the one a time step adds, each with its uses) needs
// one entry, with a quarter more for keys a reload adds. slots is what Slots
// returned: at least two tags a slot, v3's default length, so a gateway
// whose keys all become v3 by a reload still loads them.
func Tags(keys []config.Key, skew, slots int) int {
	need := 0
	for _, k := range keys {
		if k.Params.Scheme == sequence.V3 {
			need += (2*skew + 2) * max(k.Uses, 1) * k.Params.Length
		}
	}
	return min(max(need+need/4, 2*slots), bpf.MaxSlots*bpf.MaxTagLen)
}

// MaxHypSequences bounds the live sequences of scheme hyp keys. The hyp
// scheme has 256 port values, so 65,536 pairs of first two ports, and the
// detector starts at most 8 sequences at one pair: at this many live
// sequences (10,000 keys at the default skew) the chance that any pair
// holds more than 8 is about one in a thousand per time step, and it grows
// with the ninth power of the number. v2 and v3 have no such limit
// (docs/gateway.md, the detector).
const MaxHypSequences = 40000

// checkHypLimit refuses a key set whose hyp sequences could overflow a pair
// of first ports, which would leave some of those keys unable to knock.
func checkHypLimit(keys []config.Key, skew int) error {
	n, live := 0, 0
	for _, k := range keys {
		if k.Params.Scheme == sequence.Hyp {
			n++
			live += (2*skew + 2) * max(k.Uses, 1)
		}
	}
	if live > MaxHypSequences {
		return fmt.Errorf("%d keys of scheme hyp need %d live sequences at skew %d, more than %d: the hyp scheme's 256 ports cannot keep that many apart; move keys to v3 (hypd secret new) or lower skew",
			n, live, skew, MaxHypSequences)
	}
	return nil
}
