package detector

import (
	"testing"

	"github.com/hideyourports/hyp/bpf"
)

// Attacker review (h-attack2): an observer who sees a client's first v3 datagram and can send from
// the client's address (same Wi-Fi, same ISP segment without source validation) replays that
// datagram 0 after the client's datagram 1. tag_knock used to restart the same sequence at
// position 1, so the client's datagram 2 no longer matched and its knock failed, every time; the
// copy must leave the candidate further along alone.
func TestV3ReplayedFirstDatagramDoesNotSpoilAKnock(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	h.set(seqV3)
	victim := addr("10.77.0.2")
	h.tagKnock(victim, seqV3, 0, 1)
	h.tagKnock(victim, seqV3, 0) // the attacker's copy, from the victim's address
	h.tagKnock(victim, seqV3, 2)
	h.wantRecord(recordFor(victim, seqV3))
}

// The same observer with captured first datagrams of TK other live sequences (its own key's
// included) fills every place of the client's address and needs one more: the one it takes must
// be another first datagram's, never the client's candidate further along.
func TestV3FourOtherFirstDatagramsDoNotEvictAKnock(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	others := make([]Sequence, bpf.TK)
	all := []Sequence{seqV3}
	for i := range others {
		others[i] = Sequence{KeyID: uint32(10 + i), Window: seqV3.Window, Counter: 0,
			Ports: []uint16{uint16(3000 + i), uint16(4000 + i)}, Tags: []uint64{uint64(0xa0+i) << 40, uint64(0xb0+i) << 40}}
		all = append(all, others[i])
	}
	h.set(all...)
	victim := addr("10.77.0.2")
	h.tagKnock(victim, seqV3, 0, 1)
	for _, o := range others {
		h.tagKnock(victim, o, 0)
	}
	h.tagKnock(victim, seqV3, 2)
	h.wantRecord(recordFor(victim, seqV3))
}
