package server

import (
	"strings"
	"testing"

	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
)

// Long v3 sequences need more tags than the detector's default of two a
// slot: sized by their length, the map holds every datagram of every live
// sequence.
func TestTagsCoverLongV3Sequences(t *testing.T) {
	long := sequence.V3Defaults("site")
	long.Length = 8
	keys := make([]config.Key, 20000)
	for i := range keys {
		keys[i] = config.Key{Params: long, Uses: 1}
	}
	slots, err := Slots(keys, 1)
	if err != nil {
		t.Fatal(err)
	}
	live := 20000 * 4 * 8 // keys × (2·skew+2) windows × length
	if got := Tags(keys, 1, slots); got < live || got < 2*slots {
		t.Errorf("Tags = %d for %d live tags and %d slots", got, live, slots)
	}
	v2 := []config.Key{{Params: sequence.Defaults(), Uses: 1}}
	if got := Tags(v2, 1, 65536); got != 2*65536 {
		t.Errorf("Tags for v2 keys = %d, want the default of two a slot", got)
	}
}

// The hyp scheme's limit holds at exactly MaxHypSequences live sequences and
// refuses one key more, naming the way out.
func TestHypKeysAtTheLimit(t *testing.T) {
	hyp := config.Key{Params: sequence.HypDefaults(), Uses: 1}
	keys := make([]config.Key, MaxHypSequences/4) // skew 1: 4 live windows a key
	for i := range keys {
		keys[i] = hyp
	}
	if _, err := Slots(keys, 1); err != nil {
		t.Fatalf("%d hyp keys at skew 1: %v", len(keys), err)
	}
	keys = append(keys, hyp)
	_, err := Slots(keys, 1)
	if err == nil || !strings.Contains(err.Error(), "move keys to v3") {
		t.Fatalf("%d hyp keys at skew 1: %v, want a refusal", len(keys), err)
	}
	// v2 keys do not count against it.
	v2 := make([]config.Key, 2*MaxHypSequences)
	for i := range v2 {
		v2[i] = config.Key{Params: sequence.Defaults(), Uses: 1}
	}
	if _, err := Slots(append(v2, hyp), 1); err != nil {
		t.Fatalf("v2 keys counted against the hyp limit: %v", err)
	}
}
