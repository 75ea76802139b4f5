package detector

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/hideyourports/hyp/bpf"
)

// seqV3 is a tagged (v3) sequence of three datagrams.
var seqV3 = Sequence{KeyID: 3, Window: 58000000, Counter: 1, Ports: []uint16{41000, 2222, 65535},
	Tags: []uint64{0x0123456789abcdef, 0xfedcba9876543210, 0x1111222233334444}}

// tagKnock sends datagram i of s from src for each i in idx, each with its tag as the payload,
// and checks each is dropped.
func (h *harness) tagKnock(src netip.Addr, s Sequence, idx ...int) {
	h.t.Helper()
	for _, i := range idx {
		h.datagram(src, s.Ports[i], binary.BigEndian.AppendUint64(nil, s.Tags[i]))
	}
}

// datagram sends one datagram with payload from src to port and checks it is dropped.
func (h *harness) datagram(src netip.Addr, port uint16, payload []byte) {
	h.t.Helper()
	f := frame{src: src, dst: serverFor(src), sport: 40000, dport: port, body: payload}
	if v := h.run(f.bytes()); v != xdpDrop {
		h.t.Fatalf("datagram %v -> port %d (%d bytes): verdict %d, want XDP_DROP", src, port, len(payload), v)
	}
}

func tagBytes(t uint64) []byte { return binary.BigEndian.AppendUint64(nil, t) }

// TestV3Knock: a tagged sequence completes from its datagrams in order, each to its port with its
// tag; a wrong tag, a tag at the wrong port, datagrams out of order and a repeated datagram do
// not complete it; noise between the datagrams does not reset it.
func TestV3Knock(t *testing.T) {
	h := newHarness(t, Config{LocalAddrs: gatewayAddrs})
	h.set(seqV3)
	all := []int{0, 1, 2}

	for _, src := range []netip.Addr{addr("10.77.0.2"), addr("fd77::2")} {
		h.tagKnock(src, seqV3, all...)
		h.wantRecord(recordFor(src, seqV3))
	}

	src := addr("10.77.0.3")
	// The ports alone, as v2 would knock them: nothing.
	h.knock(src, seqV3.Ports...)
	h.wantNoRecord()
	// A wrong tag in the middle.
	h.tagKnock(src, seqV3, 0)
	h.datagram(src, seqV3.Ports[1], tagBytes(seqV3.Tags[1]^1))
	h.tagKnock(src, seqV3, 2)
	h.wantNoRecord()
	// A right tag at the wrong port.
	h.tagKnock(src, seqV3, 0)
	h.datagram(src, seqV3.Ports[1]+1, tagBytes(seqV3.Tags[1]))
	h.tagKnock(src, seqV3, 2)
	h.wantNoRecord()
	// Out of order, and a datagram skipped. From a source with no progress: the one above is
	// at position 1 (its datagram 0 came last), so 1, 0, 2 from it would be 0, 1, 2 with a
	// copy of 0 between, which completes (TestV3ReplayedFirstDatagramDoesNotSpoilAKnock).
	src = addr("10.77.0.7")
	h.tagKnock(src, seqV3, 1, 0, 2)
	h.wantNoRecord()
	h.tagKnock(src, seqV3, 0, 2)
	h.wantNoRecord()
	// The first datagram repeated restarts the same sequence: still completes.
	h.tagKnock(src, seqV3, 0, 0, 1, 2)
	h.wantRecord(recordFor(src, seqV3))
	// After completion the last datagrams alone do nothing.
	h.tagKnock(src, seqV3, 1, 2)
	h.wantNoRecord()

	// Noise between the datagrams (random ports, empty and 8-byte payloads, even to the next
	// datagram's port without its tag) does not reset tagged progress.
	src = addr("10.77.0.4")
	h.tagKnock(src, seqV3, 0)
	for i := range 50 {
		h.datagram(src, uint16(1000+i*997), nil)
		h.datagram(src, uint16(1000+i*991), tagBytes(uint64(i)*0x9e3779b97f4a7c15))
	}
	h.datagram(src, seqV3.Ports[1], nil)
	h.tagKnock(src, seqV3, 1)
	h.datagram(src, seqV3.Ports[2], tagBytes(seqV3.Tags[1]))
	h.tagKnock(src, seqV3, 2)
	h.wantRecord(recordFor(src, seqV3))

	// Another source's datagrams never advance this one's.
	a, b := addr("10.77.0.5"), addr("10.77.0.6")
	h.tagKnock(a, seqV3, 0)
	h.tagKnock(b, seqV3, 1, 2)
	h.wantNoRecord()
	h.tagKnock(a, seqV3, 1, 2)
	h.wantRecord(recordFor(a, seqV3))
}

// TestV3Replayed: a tagged sequence replayed after it was marked spent is reported as a replay,
// at most once a second, as a port sequence is.
func TestV3Replayed(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqV3)
	client, attacker := addr("10.77.0.2"), addr("10.77.0.9")
	h.tagKnock(client, seqV3, 0, 1, 2)
	h.wantRecord(recordFor(client, seqV3))
	if err := h.d.MarkSpent(seqV3.KeyID, seqV3.Window, seqV3.Counter); err != nil {
		t.Fatal(err)
	}
	h.tagKnock(attacker, seqV3, 0, 1, 2)
	want := recordFor(attacker, seqV3)
	want.Replay = true
	h.wantRecord(want)
	before := h.counters()
	for range 10 {
		h.tagKnock(attacker, seqV3, 0, 1, 2)
	}
	h.wantNoRecord()
	if c := h.counters(); c.ReplaysUnreported != before.ReplaysUnreported+10 {
		t.Errorf("replays unreported %d -> %d, want +10", before.ReplaysUnreported, c.ReplaysUnreported)
	}
	// A whole set that says not spent (computed before the knock opened) leaves it spent.
	h.set(seqV3)
	time.Sleep(1100 * time.Millisecond)
	h.tagKnock(attacker, seqV3, 0, 1, 2)
	h.wantRecord(want)
}

// TestV3Timeout: a tagged sequence must fit in the knock timeout, counted from its first datagram.
func TestV3Timeout(t *testing.T) {
	h := newHarness(t, Config{KnockTimeout: 200 * time.Millisecond})
	h.set(seqV3)
	src := addr("10.77.0.2")
	h.tagKnock(src, seqV3, 0, 1)
	time.Sleep(300 * time.Millisecond)
	h.tagKnock(src, seqV3, 2)
	h.wantNoRecord()
	h.tagKnock(src, seqV3, 0, 1, 2)
	h.wantRecord(recordFor(src, seqV3))
}

// TestV3Shapes: one datagram is a whole tagged sequence; bpf.MaxTagLen is the longest; several
// tagged sequences from one source interleave (users behind one address), up to bpf.TK at once.
func TestV3Shapes(t *testing.T) {
	h := newHarness(t, Config{})
	one := Sequence{KeyID: 4, Window: 9, Ports: []uint16{5000}, Tags: []uint64{42}}
	long := Sequence{KeyID: 5, Window: 9}
	for i := range bpf.MaxTagLen {
		long.Ports = append(long.Ports, uint16(20000+i))
		long.Tags = append(long.Tags, uint64(1000+i))
	}
	var many []Sequence
	for i := range bpf.TK {
		many = append(many, Sequence{KeyID: uint32(10 + i), Window: 9, Ports: []uint16{uint16(30000 + i), 31000},
			Tags: []uint64{uint64(5000 + i), uint64(6000 + i)}})
	}
	h.set(append([]Sequence{one, long}, many...)...)
	src := addr("10.77.0.2")
	h.tagKnock(src, one, 0)
	h.wantRecord(recordFor(src, one))
	h.tagKnock(src, long, 0, 1, 2, 3, 4, 5, 6, 7)
	h.wantRecord(recordFor(src, long))
	for _, s := range many {
		h.tagKnock(src, s, 0)
	}
	for _, s := range many {
		h.tagKnock(src, s, 1)
		h.wantRecord(recordFor(src, s))
	}

	for _, bad := range [][]Sequence{
		{{KeyID: 1, Ports: []uint16{1, 2}, Tags: []uint64{1}}},
		{{KeyID: 1, Ports: make([]uint16, bpf.MaxTagLen+1), Tags: make([]uint64, bpf.MaxTagLen+1)}},
		{{KeyID: 1, Ports: []uint16{}, Tags: []uint64{}}},
	} {
		if err := h.d.SetSequences(bad); err == nil {
			t.Errorf("SetSequences accepted %+v", bad)
		}
	}
}

// TestV3AndV2Together: with both kinds loaded, noise still resets port-sequence progress (v2 as
// it always was) but not tagged progress; and a removed tagged sequence's tags are gone.
func TestV3AndV2Together(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA, seqV3)
	src := addr("10.77.0.2")
	h.tagKnock(src, seqV3, 0)
	h.knock(src, seqA.Ports[0], seqA.Ports[1])
	h.knock(src, 12345) // noise: resets seqA's progress, not seqV3's
	h.knock(src, seqA.Ports[2], seqA.Ports[3])
	h.tagKnock(src, seqV3, 1, 2)
	h.wantRecord(recordFor(src, seqV3))
	h.wantNoRecord()
	h.knock(src, seqA.Ports...)
	h.wantRecord(recordFor(src, seqA))

	if err := h.d.Remove(seqV3.KeyID, seqV3.Window, seqV3.Counter); err != nil {
		t.Fatal(err)
	}
	h.tagKnock(src, seqV3, 0, 1, 2)
	h.wantNoRecord()
	var k [8]byte
	var v bpf.Tag
	if it := h.d.objs.Tags.Iterate(); it.Next(&k, &v) {
		t.Errorf("tag %x still in the kernel after its sequence was removed: %+v", k, v)
	}
}

// TestNoPortSequencesNoSourceState: with only tagged sequences loaded, noise from many sources
// writes no per-source state at all, and a port-sequence first port writes none either; with a
// port sequence loaded the same noise does (the old behaviour, kept for v2 and hyp).
func TestNoPortSequencesNoSourceState(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqV3)
	for i := range 200 {
		src := netip.AddrFrom4([4]byte{10, 77, 1, byte(i)})
		h.datagram(src, seqV3.Ports[0], nil)
		h.datagram(src, uint16(1024+i*311), tagBytes(uint64(i)))
	}
	if n := countEntries(t, h, false); n != 0 {
		t.Errorf("only tagged sequences loaded: %d sources have port progress after noise, want 0", n)
	}
	if n := countEntries(t, h, true); n != 0 {
		t.Errorf("%d sources have tagged progress after noise, want 0", n)
	}
	if c := h.counters(); c.Seen != 400 || c.Hits != 0 {
		t.Errorf("counters %+v, want seen 400, no hits", c)
	}

	h.set(seqV3, seqA)
	for i := range 10 {
		h.datagram(netip.AddrFrom4([4]byte{10, 77, 2, byte(i)}), seqA.Ports[0], nil)
	}
	if n := countEntries(t, h, false); n != 10 {
		t.Errorf("with a port sequence loaded %d sources have progress, want 10", n)
	}
}

func countEntries(t *testing.T, h *harness, tagged bool) int {
	t.Helper()
	m := h.d.objs.Sources
	if tagged {
		m = h.d.objs.TagSources
	}
	var k bpf.Addr
	var n int
	it := m.Iterate()
	if tagged {
		var v bpf.TagProgress
		for it.Next(&k, &v) {
			n++
		}
	} else {
		var v bpf.Progress
		for it.Next(&k, &v) {
			n++
		}
		// A port sequence's first port is noted in the pending array.
		n += len(pendingEntries(t, h))
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}
