package detector

import (
	"testing"
	"time"
)

// TestSpentSequenceReportsReplays: a spent sequence stays in the kernel; completing it again
// gives one record marked Replay, and completions within a second after that give none (counted
// as unreported), so a replay sent in a loop costs the ring buffer a record a second. It never
// gives a record without the mark.
func TestSpentSequenceReportsReplays(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	client, attacker := addr("10.77.0.2"), addr("10.77.0.9")

	h.knock(client, seqA.Ports...)
	h.wantRecord(recordFor(client, seqA))
	if err := h.d.MarkSpent(seqA.KeyID, seqA.Window, seqA.Counter); err != nil {
		t.Fatal(err)
	}
	if n := h.d.Len(); n != 1 {
		t.Fatalf("Len = %d after MarkSpent, want 1: the spent sequence stays loaded", n)
	}

	h.knock(attacker, seqA.Ports...)
	want := recordFor(attacker, seqA)
	want.Replay = true
	h.wantRecord(want)

	before := h.counters()
	for range 50 {
		h.knock(attacker, seqA.Ports...)
	}
	h.wantNoRecord()
	c := h.counters()
	if c.ReplaysUnreported != before.ReplaysUnreported+50 || c.Completions != before.Completions || c.RingbufDrops != 0 {
		t.Errorf("after 50 replays within a second: unreported %d -> %d, completions %d -> %d, drops %d; want +50, no change, 0",
			before.ReplaysUnreported, c.ReplaysUnreported, before.Completions, c.Completions, c.RingbufDrops)
	}

	// A second later the next replay is reported again.
	time.Sleep(1100 * time.Millisecond)
	h.knock(addr("10.77.0.10"), seqA.Ports...)
	want.Source = addr("10.77.0.10")
	h.wantRecord(want)

	// Marking again changes nothing; a new set that says spent keeps the slot as it is.
	if err := h.d.MarkSpent(seqA.KeyID, seqA.Window, seqA.Counter); err != nil {
		t.Fatal(err)
	}
	spent := seqA
	spent.Spent = true
	h.set(spent)
	time.Sleep(1100 * time.Millisecond)
	h.knock(attacker, seqA.Ports...)
	want.Source = attacker
	h.wantRecord(want)
}

// TestSequenceLoadedSpent: a sequence loaded as spent (after a restart, from the spent store)
// reports its first completion as a replay.
func TestSequenceLoadedSpent(t *testing.T) {
	h := newHarness(t, Config{})
	spent := seqA
	spent.Spent = true
	h.set(spent)
	src := addr("10.77.0.9")
	h.knock(src, seqA.Ports...)
	want := recordFor(src, seqA)
	want.Replay = true
	h.wantRecord(want)
}
