package detector

import (
	"testing"

	"github.com/hideyourports/hyp/bpf"
)

// TestPairFilter: the kernel's pair filter word of a loaded sequence's first port has its second
// port's bit (bpf.PairBit, the Go twin of knock.c's pair_bit); the program looks a pair up only
// when that bit is set, so with the word cleared the same knock completes nothing, and with it
// written back the knock completes.
func TestPairFilter(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	h.set(seqA)
	first := uint32(seqA.Ports[0])
	var w uint64
	if err := h.d.objs.PairFilter.Lookup(first, &w); err != nil {
		t.Fatal(err)
	}
	if w>>bpf.PairBit(seqA.Ports[1])&1 != 1 {
		t.Fatalf("pair filter of port %d is %#x: no bit %d for the second port", first, w, bpf.PairBit(seqA.Ports[1]))
	}
	if err := h.d.objs.PairFilter.Update(first, uint64(0), 0); err != nil {
		t.Fatal(err)
	}
	src := addr("10.77.0.31")
	h.knock(src, seqA.Ports...)
	h.wantCompletions(0)
	if err := h.d.objs.PairFilter.Update(first, w, 0); err != nil {
		t.Fatal(err)
	}
	h.knock(src, seqA.Ports...)
	h.wantRecord(recordFor(src, seqA))
}
