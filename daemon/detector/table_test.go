package detector

import (
	"errors"
	"slices"
	"testing"

	"github.com/hideyourports/hyp/bpf"
)

// fakeKernel records what the table writes, in order, and can fail writes.
type fakeKernel struct {
	slots  map[uint32]fakeSlot
	ports  map[uint32][]uint32 // pair (first << 16 | second) -> ids as written
	counts map[uint32]uint32
	bits   map[uint32]uint64
	filter map[uint32]uint64 // first port -> pair filter word
	tags   map[uint64]tagEntry
	// port and tagged are what setKinds said last.
	port, tagged bool
	log          []string
	fail         func(op string) bool
}

type fakeSlot struct {
	seq Sequence
	gen uint32
}

func newFakeKernel() *fakeKernel {
	return &fakeKernel{slots: map[uint32]fakeSlot{}, ports: map[uint32][]uint32{}, counts: map[uint32]uint32{},
		bits: map[uint32]uint64{}, filter: map[uint32]uint64{}, tags: map[uint64]tagEntry{}}
}

func (k *fakeKernel) writeSlots(ids []uint32, seqs []*Sequence, gens []uint32) (int, error) {
	for i, id := range ids {
		if k.fail != nil && k.fail("slot") {
			return i, errors.New("injected slot failure")
		}
		if seqs[i] == nil {
			delete(k.slots, id)
			k.log = append(k.log, "clear")
			continue
		}
		k.slots[id] = fakeSlot{seq: *seqs[i], gen: gens[i]}
		k.log = append(k.log, "slot")
	}
	return len(ids), nil
}

func (k *fakeKernel) writeFirstPortBits(words []uint32, bits []uint64) (int, error) {
	for i, w := range words {
		if k.fail != nil && k.fail("bits") {
			return i, errors.New("injected bitmap failure")
		}
		k.bits[w] = bits[i]
		k.log = append(k.log, "bits")
	}
	return len(words), nil
}

func (k *fakeKernel) writePairFilter(ports []uint32, words []uint64) (int, error) {
	for i, p := range ports {
		if k.fail != nil && k.fail("filter") {
			return i, errors.New("injected filter failure")
		}
		k.filter[p] = words[i]
	}
	return len(ports), nil
}

func (k *fakeKernel) writePairs(keys []uint32, counts []uint32, ids [][]uint32) (int, error) {
	for i, key := range keys {
		if k.fail != nil && k.fail("port") {
			return i, errors.New("injected port failure")
		}
		if counts[i] == 0 {
			delete(k.ports, key)
			delete(k.counts, key)
		} else {
			k.ports[key] = slices.Clone(ids[i])
			k.counts[key] = counts[i]
		}
		k.log = append(k.log, "port")
	}
	return len(keys), nil
}

func (k *fakeKernel) writeTags(tags []tagEntry) (int, error) {
	for i, e := range tags {
		if k.fail != nil && k.fail("tag") {
			return i, errors.New("injected tag failure")
		}
		k.tags[e.tag] = e
		k.log = append(k.log, "tag")
	}
	return len(tags), nil
}

func (k *fakeKernel) deleteTags(tags []uint64) (int, error) {
	for i, tag := range tags {
		if k.fail != nil && k.fail("untag") {
			return i, errors.New("injected tag delete failure")
		}
		delete(k.tags, tag)
		k.log = append(k.log, "untag")
	}
	return len(tags), nil
}

func (k *fakeKernel) setKinds(port, tagged bool) error {
	if k.fail != nil && k.fail("kinds") {
		return errors.New("injected settings failure")
	}
	k.port, k.tagged = port, tagged
	return nil
}

// check compares the fake kernel with the table: every live sequence in its
// slot, every first-port entry listing live slots that start there.
func (k *fakeKernel) check(t *testing.T, tab *table) {
	t.Helper()
	if len(k.slots) != tab.len() {
		t.Errorf("kernel has %d slots, table %d", len(k.slots), tab.len())
	}
	for id, s := range k.slots {
		got, ok := tab.lookup(id, s.gen)
		if !ok || got.KeyID != s.seq.KeyID || got.Window != s.seq.Window || got.Counter != s.seq.Counter || seqSum(&s.seq) != tab.slots[id].sum {
			t.Errorf("slot %d: kernel %+v, table %+v %v", id, s, got, ok)
		}
	}
	for port := range 65536 {
		set := k.bits[uint32(port>>6)]>>(port&63)&1 == 1
		if set != (len(tab.byPort[uint16(port)]) > 0) {
			t.Errorf("port %d: bitmap bit %v, %d live sequences start there", port, set, len(tab.byPort[uint16(port)]))
		}
	}
	live := map[uint32]uint32{}
	nTagged := 0
	for id, s := range k.slots {
		if s.seq.Tags != nil {
			nTagged++
			for i, tag := range s.seq.Tags {
				e, ok := k.tags[tag]
				if !ok || e.id != id || e.gen != s.gen || e.port != s.seq.Ports[i] || int(e.pos) != i || int(e.len) != len(s.seq.Tags) {
					t.Errorf("slot %d tag %d: kernel has %+v %v", id, i, e, ok)
				}
			}
			continue
		}
		live[pairKey(s.seq.Ports[0], s.seq.Ports[1])]++
	}
	for tag, e := range k.tags {
		if s, ok := k.slots[e.id]; !ok || s.gen != e.gen {
			t.Errorf("tag %#x names slot %d gen %d, not loaded", tag, e.id, e.gen)
		}
	}
	if (nTagged > 0) != k.tagged || (len(k.slots)-nTagged > 0) != k.port {
		t.Errorf("kinds: port %v tagged %v; %d slots, %d tagged", k.port, k.tagged, len(k.slots), nTagged)
	}
	// The pair filter: exactly the second ports of the live pairs, by first port.
	want := map[uint32]uint64{}
	for key := range live {
		want[key>>16] |= 1 << bpf.PairBit(uint16(key))
	}
	for port := range uint32(65536) {
		if k.filter[port] != want[port] {
			t.Errorf("port %d: pair filter %#x, want %#x", port, k.filter[port], want[port])
		}
	}
	for key, n := range live {
		if k.counts[key] != n {
			t.Errorf("pair %d,%d: count %d, %d live", key>>16, key&0xffff, k.counts[key], n)
		}
	}
	for key, ids := range k.ports {
		if live[key] == 0 {
			t.Errorf("pair %d,%d: entry %v with no live sequence", key>>16, key&0xffff, ids)
		}
		if len(ids) > bpf.K || len(ids) != min(int(k.counts[key]), bpf.K) {
			t.Errorf("pair %d,%d: %d ids written, count %d", key>>16, key&0xffff, len(ids), k.counts[key])
		}
		for _, id := range ids {
			s, ok := k.slots[id]
			if !ok || pairKey(s.seq.Ports[0], s.seq.Ports[1]) != key {
				t.Errorf("pair %d,%d lists slot %d holding %+v", key>>16, key&0xffff, id, s)
			}
		}
	}
}

func seqs(n int, window uint64) []Sequence {
	var out []Sequence
	for i := range n {
		out = append(out, Sequence{KeyID: uint32(i), Window: window, Ports: []uint16{uint16(1000 + i%5), uint16(i), 3, 4}})
	}
	return out
}

func TestTableRotation(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(64)
	// Three windows live, then slide one window at a time.
	live := append(append(seqs(10, 1), seqs(10, 2)...), seqs(10, 3)...)
	if err := tab.set(k, live); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	kept := tab.slotOf(newIdent(3, 2, 0))
	for w := uint64(4); w < 30; w++ {
		live = append(live[10:], seqs(10, w)...)
		if err := tab.set(k, live); err != nil {
			t.Fatalf("window %d: %v", w, err)
		}
		k.check(t, tab)
		if w == 4 {
			if id := tab.slotOf(newIdent(3, 2, 0)); id != kept {
				t.Errorf("unchanged sequence moved from slot %d to %d", kept, id)
			}
		}
	}
	if tab.len() != 30 {
		t.Errorf("len %d, want 30", tab.len())
	}
	// More than K sequences that start with one pair of ports: the kernel
	// sees K and the true count.
	var same []Sequence
	for i := range bpf.K + 1 {
		same = append(same, Sequence{KeyID: uint32(100 + i), Window: 99, Ports: []uint16{1000, 2000, uint16(i), 4}})
	}
	if err := tab.set(k, append(live, same...)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if key := pairKey(1000, 2000); k.counts[key] != bpf.K+1 || len(k.ports[key]) != bpf.K {
		t.Errorf("pair 1000,2000: count %d, %d ids", k.counts[key], len(k.ports[key]))
	}
}

func TestTableReusesSlotsLate(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(4)
	a := seqs(1, 1)
	if err := tab.set(k, a); err != nil {
		t.Fatal(err)
	}
	first := tab.slotOf(a[0].ident())
	seen := map[uint32]bool{first: true}
	// Replace the single sequence 3 times: each lands in a fresh slot
	// until all 4 are used.
	for w := uint64(2); w <= 4; w++ {
		if err := tab.set(k, seqs(1, w)); err != nil {
			t.Fatal(err)
		}
		id := tab.slotOf(newIdent(0, w, 0))
		if seen[id] {
			t.Errorf("window %d reused slot %d early", w, id)
		}
		seen[id] = true
	}
	// Generations never repeat.
	gens := map[uint32]bool{}
	for w := uint64(5); w < 50; w++ {
		if err := tab.set(k, seqs(1, w)); err != nil {
			t.Fatal(err)
		}
		g := tab.slots[tab.slotOf(newIdent(0, w, 0))].gen
		if g == 0 || gens[g] {
			t.Fatalf("generation %d reused or zero", g)
		}
		gens[g] = true
	}
}

func TestTableOrderOfWrites(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(8)
	if err := tab.set(k, seqs(2, 1)); err != nil {
		t.Fatal(err)
	}
	// New slots are written before the first-port entries that name them,
	// and those before the bitmap that leads to them.
	if want := []string{"slot", "slot", "port", "port", "bits"}; !slices.Equal(k.log, want) {
		t.Errorf("writes %v, want %v", k.log, want)
	}
	k.log = nil
	if err := tab.set(k, seqs(1, 2)); err != nil {
		t.Fatal(err)
	}
	// Removals clear slots before anything else; the pair of the removed
	// sequence is deleted (also logged as "port").
	if want := []string{"clear", "clear", "slot", "port", "port", "bits"}; !slices.Equal(k.log, want) {
		t.Errorf("writes %v, want %v", k.log, want)
	}
}

func TestTableFailuresLeaveConsistentState(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(8)
	failPort := true
	k.fail = func(op string) bool { return op == "port" && failPort }
	if err := tab.set(k, seqs(3, 1)); err == nil {
		t.Fatal("port write failure not reported")
	}
	failPort = false
	// The next change retries the dirty ports.
	if err := tab.set(k, seqs(3, 1)); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if len(k.ports) != 3 {
		t.Errorf("%d pairs written, want 3", len(k.ports))
	}

	k.fail = func(op string) bool { return op == "slot" }
	if err := tab.set(k, seqs(4, 2)); err == nil {
		t.Fatal("slot write failure not reported")
	}
	k.fail = nil
	k.check(t, tab)
	if tab.nFree+tab.len() != 8 {
		t.Errorf("leaked slots: %d free + %d live", tab.nFree, tab.len())
	}
}

func TestTableRejectsBadInput(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(2)
	for name, in := range map[string][]Sequence{
		"short":     {{Ports: []uint16{1}}},
		"long":      {{Ports: make([]uint16, bpf.MaxLen+1)}},
		"duplicate": {{Ports: []uint16{1, 2}}, {Ports: []uint16{3, 4}}},
		"too many":  seqs(3, 1),
	} {
		if err := tab.set(k, in); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if len(k.log) != 0 {
			t.Errorf("%s: rejected input wrote %v", name, k.log)
		}
	}
}

// A time step through apply leaves the same state as a whole set would: the expired window gone,
// the new one loaded, the others untouched in their slots.
func TestTableApplyRotation(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(64)
	if err := tab.apply(k, nil, append(append(seqs(10, 1), seqs(10, 2)...), seqs(10, 3)...)); err != nil {
		t.Fatal(err)
	}
	kept := tab.slotOf(newIdent(3, 2, 0))
	for w := uint64(4); w < 30; w++ {
		var rm []Ref
		for i := range 10 {
			rm = append(rm, Ref{KeyID: uint32(i), Window: w - 3})
		}
		rm = append(rm, Ref{KeyID: 99, Window: 1}) // not loaded: skipped
		k.log = nil
		if err := tab.apply(k, rm, seqs(10, w)); err != nil {
			t.Fatalf("window %d: %v", w, err)
		}
		k.check(t, tab)
		if tab.len() != 30 {
			t.Fatalf("window %d: len %d, want 30", w, tab.len())
		}
		// The bitmap, when a word of it changes, is written last (here every first port
		// stays live, so none does: flush writes only words that change).
		if i := slices.Index(k.log, "slot"); i < 0 || slices.Contains(k.log[i:], "clear") || (slices.Contains(k.log, "bits") && k.log[len(k.log)-1] != "bits") {
			t.Fatalf("window %d: writes out of order: %v", w, k.log)
		}
		if w == 4 && tab.slotOf(newIdent(3, 2, 0)) != kept {
			t.Error("an unchanged sequence moved")
		}
	}
	// An added sequence that is loaded replaces it.
	repl := seqs(1, 29)
	repl[0].Ports = []uint16{7, 8, 9}
	if err := tab.apply(k, nil, repl); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if s := tab.slots[tab.slotOf(newIdent(0, 29, 0))]; s.sum != portsSum(repl[0].Ports) || s.first != 7 {
		t.Errorf("replaced sequence not loaded: %+v", s)
	}
	if tab.len() != 30 {
		t.Errorf("len %d after a replacement, want 30", tab.len())
	}
}

// A batch that fails part-way keeps exactly what the kernel took, and leaks no slot.
func TestTableApplyPartialBatch(t *testing.T) {
	k := newFakeKernel()
	tab := newTable(16)
	writes := 0
	k.fail = func(op string) bool {
		if op != "slot" {
			return false
		}
		writes++
		return writes > 3
	}
	if err := tab.apply(k, nil, seqs(6, 1)); err == nil {
		t.Fatal("failure not reported")
	}
	k.fail = nil
	if tab.len() != 3 || tab.nFree != 13 {
		t.Fatalf("%d live, %d free after 3 of 6 written", tab.len(), tab.nFree)
	}
	if err := tab.apply(k, nil, seqs(6, 1)[3:]); err != nil {
		t.Fatal(err)
	}
	k.check(t, tab)
	if tab.len() != 6 || tab.nFree+tab.len() != 16 {
		t.Errorf("%d live, %d free", tab.len(), tab.nFree)
	}
}
