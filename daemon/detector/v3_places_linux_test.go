package detector

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hideyourports/hyp/bpf"
)

// tick is more than one tick of the kernel's coarse clock (1 to 10 ms), which times tagged
// candidates.
const tick = 20 * time.Millisecond

// tagSeqs makes n tagged sequences of the given length with key ids from key, distinct ports and tags.
func tagSeqs(key uint32, n, length int) []Sequence {
	out := make([]Sequence, n)
	for i := range out {
		s := Sequence{KeyID: key + uint32(i), Window: seqV3.Window}
		for j := range length {
			s.Ports = append(s.Ports, uint16(10000+100*int(key)+10*i+j))
			s.Tags = append(s.Tags, uint64(key+uint32(i))<<32|uint64(0xc0de0000+j))
		}
		out[i] = s
	}
	return out
}

// places returns the positions of src's tagged candidates, by key id (the harness loads each
// sequence into one slot, so the slot's key says which sequence). A position is the number of
// datagrams matched; a sequence in two places has two.
func places(t *testing.T, h *harness, src netip.Addr) map[uint32][]uint32 {
	t.Helper()
	var v bpf.TagProgress
	if err := h.d.objs.TagSources.Lookup(addrKey(src), &v); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		t.Fatal(err)
	}
	out := map[uint32][]uint32{}
	for _, c := range v.C {
		if c == 0 {
			continue
		}
		id, _, pos := bpf.UnpackCandidate(c)
		var s bpf.Sequence
		if err := h.d.objs.Sequences.Lookup(id, &s); err != nil {
			t.Fatal(err)
		}
		out[s.KeyId] = append(out[s.KeyId], pos)
	}
	return out
}

// TestV3CopiedFirstDatagramsTakeOnePlace: any number of copies of a client's datagram 0 after
// its datagram 1 take one place besides the client's candidate, never more; the client's knock
// completes and completion frees every place of its sequence.
func TestV3CopiedFirstDatagramsTakeOnePlace(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	h.set(seqV3)
	src := addr("10.77.0.2")
	h.tagKnock(src, seqV3, 0, 1)
	for range 10 {
		h.tagKnock(src, seqV3, 0)
	}
	if got := places(t, h, src)[seqV3.KeyID]; len(got) != 2 || got[0]+got[1] != 3 {
		t.Errorf("after 0, 1 and ten copies of 0: positions %v, want one at 2 and one at 1", got)
	}
	h.tagKnock(src, seqV3, 2)
	h.wantRecord(recordFor(src, seqV3))
	if got := places(t, h, src); len(got) != 0 {
		t.Errorf("after completion: candidates %v, want none", got)
	}
}

// TestV3RetryAfterALostDatagram: a client whose last datagram was lost knocks again from the
// start, and the retry completes, also when the first try's candidate, now at the same
// position, times out before the retry's last datagram arrives.
func TestV3RetryAfterALostDatagram(t *testing.T) {
	const timeout = 400 * time.Millisecond
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs, KnockTimeout: timeout})
	h.set(seqV3)

	src := addr("10.77.0.2")
	h.tagKnock(src, seqV3, 0, 1) // datagram 2 lost
	h.tagKnock(src, seqV3, 0, 1, 2)
	h.wantRecord(recordFor(src, seqV3))

	src = addr("10.77.0.3")
	h.tagKnock(src, seqV3, 0, 1)
	time.Sleep(timeout * 3 / 4)
	h.tagKnock(src, seqV3, 0, 1)
	if got := places(t, h, src)[seqV3.KeyID]; len(got) != 2 || got[0] != 2 || got[1] != 2 {
		t.Fatalf("first try and retry both past datagram 1: positions %v, want [2 2]", got)
	}
	time.Sleep(timeout / 2) // the first try's candidate times out, the retry's does not
	h.tagKnock(src, seqV3, 2)
	h.wantRecord(recordFor(src, seqV3))
}

// TestV3EvictionOrder: when every place is taken, a first datagram pushes out the oldest
// candidate that has seen only its first datagram; a candidate further along goes only when
// every place is further along, and then a fresh knock still starts and completes.
func TestV3EvictionOrder(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	firsts := tagSeqs(20, bpf.TK+1, 2)
	along := tagSeqs(40, bpf.TK, 3)
	fresh := tagSeqs(60, 1, 2)[0]
	h.set(append(append(append([]Sequence{seqV3}, firsts...), along...), fresh)...)

	// The client past datagram 1, then TK + 1 others' first datagrams: TK - 1 fill the free
	// places, the last two push out the two oldest of the others; the client stays. Each
	// after the last has moved the kernel's coarse clock on, so that "oldest" is one.
	src := addr("10.77.0.2")
	h.tagKnock(src, seqV3, 0, 1)
	for _, s := range firsts {
		time.Sleep(tick)
		h.tagKnock(src, s, 0)
	}
	for _, s := range firsts[:2] {
		h.tagKnock(src, s, 1)
	}
	h.wantNoRecord()
	h.tagKnock(src, seqV3, 2)
	h.wantRecord(recordFor(src, seqV3))
	for _, s := range firsts[2:] {
		h.tagKnock(src, s, 1)
		h.wantRecord(recordFor(src, s))
	}

	// Every place past datagram 1: a fresh knock takes the oldest place and completes; the
	// others still complete.
	src = addr("10.77.0.3")
	for _, s := range along {
		time.Sleep(tick)
		h.tagKnock(src, s, 0, 1)
	}
	h.tagKnock(src, fresh, 0, 1)
	h.wantRecord(recordFor(src, fresh))
	h.tagKnock(src, along[0], 2)
	h.wantNoRecord()
	for _, s := range along[1:] {
		h.tagKnock(src, s, 2)
		h.wantRecord(recordFor(src, s))
	}
}

// TestV3UsersBehindOneAddress: TK users behind one address knocking at once, each datagram of
// each interleaved with everyone else's, all complete, also when a copy of each one's datagram 0
// follows its datagram 1 while every place is taken.
func TestV3UsersBehindOneAddress(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	users := tagSeqs(20, bpf.TK, 3)
	h.set(users...)
	src := addr("10.77.0.2")
	for i := range 3 {
		for _, s := range users {
			h.tagKnock(src, s, i)
			if i == 1 {
				h.tagKnock(src, s, 0)
			}
		}
	}
	for _, s := range users {
		h.wantRecord(recordFor(src, s))
	}
}
