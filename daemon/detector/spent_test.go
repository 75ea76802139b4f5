package detector

import (
	"errors"
	"slices"
	"testing"
)

// markSpent is the fake kernel's copy of mapsKernel.markSpent.
func (k *fakeKernel) markSpent(id, gen uint32) error {
	if k.fail != nil && k.fail("spent") {
		return errors.New("injected spent failure")
	}
	s, ok := k.slots[id]
	if !ok || s.gen != gen {
		return errors.New("no such slot")
	}
	s.seq.Spent = true
	k.slots[id] = s
	k.log = append(k.log, "spent")
	return nil
}

// TestMarkSpentKeepsSlotAndGen: a spent sequence stays in its slot with its generation (a
// source part-way through it keeps its progress, a record of it stays valid), flagged spent, and
// a second mark or one of a sequence not loaded changes nothing.
func TestMarkSpentKeepsSlotAndGen(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(16)
	seqs := []Sequence{
		{KeyID: 1, Window: 10, Counter: 0, Ports: []uint16{100, 200, 300}},
		{KeyID: 1, Window: 10, Counter: 1, Ports: []uint16{101, 201, 301}},
	}
	if err := tab.set(k, seqs); err != nil {
		t.Fatal(err)
	}
	id := tab.slotOf(newIdent(1, 10, 0))
	gen := tab.slots[id].gen
	if err := tab.markSpent(k, newIdent(1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	got, ok := tab.lookup(id, gen)
	if !ok || !got.Spent {
		t.Fatalf("after markSpent slot %d gen %d: %+v %v; want it there, spent", id, gen, got, ok)
	}
	if !k.slots[id].seq.Spent || k.slots[id].gen != gen {
		t.Errorf("kernel slot %d: %+v; want spent with gen %d", id, k.slots[id], gen)
	}
	if tab.len() != 2 {
		t.Errorf("len = %d after markSpent, want 2 (a spent sequence stays loaded)", tab.len())
	}
	k.log = nil
	if err := tab.markSpent(k, newIdent(1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	if err := tab.markSpent(k, newIdent(9, 10, 0)); err != nil {
		t.Fatal(err)
	}
	if len(k.log) != 0 {
		t.Errorf("marking again or marking an unknown sequence wrote %v", k.log)
	}
	k.check(t, tab)

	// A whole set that says the same (spent) changes nothing; nor does one that says not spent:
	// spent is one-way. The daemon computes a set from its spent store and can race a knock that
	// opens meanwhile (its time step against its grant path); a set computed just before the
	// grant would otherwise make the sequence openable again in the kernel (the old behaviour
	// replaced it with a live copy).
	seqs[0].Spent = true
	k.log = nil
	if err := tab.set(k, seqs); err != nil {
		t.Fatal(err)
	}
	if len(k.log) != 0 {
		t.Errorf("set with the same spent flag wrote %v", k.log)
	}
	seqs[0].Spent = false
	if err := tab.set(k, seqs); err != nil {
		t.Fatal(err)
	}
	if len(k.log) != 0 {
		t.Errorf("set with Spent false wrote %v", k.log)
	}
	nid := tab.slotOf(newIdent(1, 10, 0))
	if got, _ := tab.lookup(nid, tab.slots[nid].gen); !got.Spent || nid != id || !k.slots[id].seq.Spent {
		t.Error("set with Spent false un-marked the spent sequence")
	}
	// Nor does a time step's Update that adds it again.
	if err := tab.apply(k, nil, seqs[:1]); err != nil {
		t.Fatal(err)
	}
	if len(k.log) != 0 || !k.slots[id].seq.Spent {
		t.Errorf("apply with Spent false wrote %v; kernel slot %+v", k.log, k.slots[id])
	}
	// A sequence whose ports changed under the same ident is a new sequence, not spent.
	seqs[0].Ports = []uint16{900, 901}
	if err := tab.set(k, seqs); err != nil {
		t.Fatal(err)
	}
	nid = tab.slotOf(newIdent(1, 10, 0))
	if got, _ := tab.lookup(nid, tab.slots[nid].gen); got.Spent {
		t.Error("a changed sequence kept the spent flag")
	}
}

// TestMarkSpentFailureKeepsItLive: a failed kernel write leaves the table saying what the kernel
// has (not spent), so a later mark tries again.
func TestMarkSpentFailureKeepsItLive(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(4)
	if err := tab.set(k, []Sequence{{KeyID: 1, Window: 10, Ports: []uint16{100, 200}}}); err != nil {
		t.Fatal(err)
	}
	k.fail = func(op string) bool { return op == "spent" }
	if err := tab.markSpent(k, newIdent(1, 10, 0)); err == nil {
		t.Fatal("markSpent succeeded with the kernel write failing")
	}
	id := tab.slotOf(newIdent(1, 10, 0))
	if tab.slots[id].spent {
		t.Error("the table says spent though the kernel write failed")
	}
	k.fail = nil
	if err := tab.markSpent(k, newIdent(1, 10, 0)); err != nil {
		t.Fatal(err)
	}
	if !tab.slots[id].spent || !k.slots[id].seq.Spent {
		t.Error("the second mark did not take")
	}
}

// TestSpentGoLastAtAPair: where more than bpf.K sequences start with one pair of ports, the
// kernel's entry lists the live ones first, so spent sequences never crowd out one that can still
// open.
func TestSpentGoLastAtAPair(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(32)
	var seqs []Sequence
	for c := range uint32(10) {
		seqs = append(seqs, Sequence{KeyID: 1, Window: 10, Counter: c, Ports: []uint16{500, 600, uint16(700 + c)}})
	}
	if err := tab.set(k, seqs); err != nil {
		t.Fatal(err)
	}
	for c := range uint32(3) {
		if err := tab.markSpent(k, newIdent(1, 10, c)); err != nil {
			t.Fatal(err)
		}
	}
	listed := k.ports[pairKey(500, 600)]
	if len(listed) != 8 || k.counts[pairKey(500, 600)] != 10 {
		t.Fatalf("pair 500,600 lists %d ids, count %d; want 8 of 10", len(listed), k.counts[pairKey(500, 600)])
	}
	var counters []uint32
	for _, id := range listed {
		counters = append(counters, tab.slots[id].counter)
	}
	if want := []uint32{3, 4, 5, 6, 7, 8, 9, 0}; !slices.Equal(counters, want) {
		t.Errorf("port 500 lists counters %v, want %v (live first, in order, then spent)", counters, want)
	}
}
