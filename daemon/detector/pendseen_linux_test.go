package detector

import (
	"testing"

	"github.com/hideyourports/hyp/bpf"
)

// TestPendSeenGenerations: a bucket's mark lives in the generation current when its entry was
// written until the second rotation after (bpf.PendSeenPeriod apart, longer than any knock):
// a knock whose first port came one rotation ago still completes; a bucket marked in neither
// generation is not read, so an entry left there (older than any knock could be) no longer
// pairs, and the source's next first port is written over it, never beside it.
func TestPendSeenGenerations(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	h.set(seqA)
	rotate := func() {
		t.Helper()
		if err := h.d.rotatePendSeen(); err != nil {
			t.Fatal(err)
		}
	}
	marked := func(src string) bool {
		t.Helper()
		bucket, _ := pendPlace(h, addr(src))
		var g0, g1 bpf.PendSeenBits
		if err := h.d.objs.PendSeen.Lookup(uint32(0), &g0); err != nil {
			t.Fatal(err)
		}
		if err := h.d.objs.PendSeen.Lookup(uint32(1), &g1); err != nil {
			t.Fatal(err)
		}
		return (g0.W[bucket/64]|g1.W[bucket/64])>>(bucket%64)&1 == 1
	}

	// One rotation between the first port and the rest: the knock completes.
	src := addr("10.77.0.21")
	h.knock(src, seqA.Ports[0])
	if !marked("10.77.0.21") {
		t.Fatal("the first port's entry did not mark its bucket")
	}
	rotate()
	h.knock(src, seqA.Ports[1:]...)
	h.wantRecord(recordFor(src, seqA))

	// Two rotations after a first port: its bucket is no longer marked and the entry, though
	// still in the array, is not read: the rest of the sequence completes nothing.
	src2 := addr("10.77.0.22")
	h.knock(src2, seqA.Ports[0])
	rotate()
	rotate()
	if marked("10.77.0.22") {
		t.Fatal("two rotations after its last entry, the bucket is still marked")
	}
	if e, n := pendOf(t, h, src2); n != 1 {
		t.Fatalf("the old entry should still be in the array (state %x, %d of them)", e, n)
	}
	h.knock(src2, seqA.Ports[1:]...)
	h.wantCompletions(1)

	// A new first port is written over the old entry, not beside it, and the knock completes.
	h.knock(src2, seqA.Ports[0])
	if _, n := pendOf(t, h, src2); n != 1 {
		t.Fatalf("after a new first port the source has %d entries in its bucket, want 1", n)
	}
	h.knock(src2, seqA.Ports[1:]...)
	h.wantRecord(recordFor(src2, seqA))
}
