package detector

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/hideyourports/hyp/bpf"
)

// pendEntry is one used entry of the pending array.
type pendEntry struct {
	bucket uint32
	way    int
	raw    uint64
}

// pendingEntries returns every entry of the pending array in use.
func pendingEntries(t testing.TB, h *harness) []pendEntry {
	t.Helper()
	var out []pendEntry
	var k uint32
	var v bpf.PendBucket
	it := h.d.objs.Pending.Iterate()
	for it.Next(&k, &v) {
		for i, e := range v.E {
			if _, _, _, st := bpf.UnpackPend(e); st != 0 {
				out = append(out, pendEntry{k, i, e})
			}
		}
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// pendPlace is where h's program keeps src: its bucket and fingerprint, by the Go twin of
// knock.c's hash with h's seed.
func pendPlace(h *harness, src netip.Addr) (bucket uint32, fp uint64) {
	s := h.d.settingsNow()
	hash := bpf.PendHash(s.PendSeed, addrKey(src.Unmap()).W)
	return uint32(hash) & s.PendMask, bpf.PendFingerprint(hash)
}

// pendOf returns src's entry (state 0 if none) and how many entries of its bucket are src's.
func pendOf(t testing.TB, h *harness, src netip.Addr) (e uint64, n int) {
	t.Helper()
	bucket, fp := pendPlace(h, src)
	var v bpf.PendBucket
	if err := h.d.objs.Pending.Lookup(bucket, &v); err != nil {
		t.Fatal(err)
	}
	for _, x := range v.E {
		if f, _, _, st := bpf.UnpackPend(x); st != 0 && f == fp {
			if n == 0 {
				e = x
			}
			n++
		}
	}
	return e, n
}

// sourcesCount counts the entries of the LRU map sources.
func sourcesCount(t testing.TB, h *harness) int {
	t.Helper()
	var k bpf.Addr
	var v bpf.Progress
	n := 0
	it := h.d.objs.Sources.Iterate()
	for it.Next(&k, &v) {
		n++
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return n
}

// sameBucket returns n IPv6 sources other than victim that h's program puts in victim's bucket.
func sameBucket(t testing.TB, h *harness, victim netip.Addr, n int) []netip.Addr {
	t.Helper()
	want, _ := pendPlace(h, victim)
	var out []netip.Addr
	a := netip.MustParseAddr("fd77::2:0:0").As16()
	for i := uint32(0); len(out) < n; i++ {
		if i == 1<<28 {
			t.Fatalf("found %d of %d sources in bucket %d", len(out), n, want)
		}
		a[12], a[13], a[14], a[15] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		src := netip.AddrFrom16(a)
		if b, _ := pendPlace(h, src); b == want && src != victim {
			out = append(out, src)
		}
	}
	return out
}

// The first datagram of a knock is noted in the pending array alone; the second, matching a live
// pair, moves the source to the LRU map sources; the completion clears its entry.
func TestPendingKnockPath(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	if s := h.d.settingsNow(); s.PendSeed == 0 || s.PendMask+1 != h.d.objs.Pending.MaxEntries() || s.PendMask != bpf.DefaultPendBuckets-1 {
		t.Fatalf("settings: seed %#x, mask %d; want a seed and mask %d", s.PendSeed, s.PendMask, bpf.DefaultPendBuckets-1)
	}
	for _, src := range []netip.Addr{addr("10.77.0.2"), addr("fd77::2")} {
		p := seqA.Ports
		h.knock(src, p[0])
		e, n := pendOf(t, h, src)
		if _, _, port, st := bpf.UnpackPend(e); n != 1 || st != bpf.PendPending || port != p[0] {
			t.Fatalf("%v after the first port: %d entries, first %#x (port %d state %d); want one pending at %d", src, n, e, port, st, p[0])
		}
		var pr bpf.Progress
		if err := h.d.objs.Sources.Lookup(addrKey(src.Unmap()), &pr); err == nil {
			t.Fatalf("%v after the first port: progress %+v in sources, want none", src, pr)
		}
		h.knock(src, p[1])
		e, n = pendOf(t, h, src)
		if _, _, _, st := bpf.UnpackPend(e); n != 1 || st != bpf.PendFollowing {
			t.Fatalf("%v after two ports: %d entries, first %#x; want one following", src, n, e)
		}
		if err := h.d.objs.Sources.Lookup(addrKey(src.Unmap()), &pr); err != nil || pr.N != 1 {
			t.Fatalf("%v after two ports: progress %+v, %v; want one candidate", src, pr, err)
		}
		h.knock(src, p[2], p[3])
		h.wantRecord(recordFor(src, seqA))
		if _, n := pendOf(t, h, src); n != 0 {
			t.Errorf("%v after the completion: %d pending entries, want 0", src, n)
		}
	}
}

// Other sources' first ports in a knock's bucket replace the oldest pending entry: seven of
// them between two datagrams of a knock leave it alone, eight push its first port out (the
// knock then fails like one whose datagram was lost), and none pushes out a source already past
// a live pair.
func TestPendingOverwrittenByOtherSources(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	victim := addr("fd77::1:2")
	others := sameBucket(t, h, victim, 3*bpf.PendWays)
	p := seqA.Ports
	// Entries are ordered by the coarse clock, which moves once a jiffy (at
	// most 10 ms): the first ports here are spaced further apart, so that
	// which is oldest is not a tie.
	spaced := func(src netip.Addr) {
		time.Sleep(12 * time.Millisecond)
		h.knock(src, p[0])
	}

	spaced(victim)
	for _, o := range others[:bpf.PendWays-1] {
		spaced(o)
	}
	h.knock(victim, p[1:]...)
	h.wantRecord(recordFor(victim, seqA))

	spaced(victim)
	for _, o := range others[bpf.PendWays : 2*bpf.PendWays] {
		spaced(o)
	}
	if _, n := pendOf(t, h, victim); n != 0 {
		t.Fatalf("%d sources in one bucket after the victim left %d entries of it", bpf.PendWays, n)
	}
	h.knock(victim, p[1:]...)
	h.wantNoRecord()

	// Past the first pair, the knock is not pushed out by any number of first ports.
	h.knock(victim, p[0], p[1])
	for _, o := range others {
		h.knock(o, p[0])
	}
	h.knock(victim, p[2:]...)
	h.wantRecord(recordFor(victim, seqA))
}

// The hash is keyed: two detectors (two seeds) put sources in different places, each where the Go
// twin of the hash says with its own seed.
func TestPendingHashIsKeyed(t *testing.T) {
	h1 := newHarness(t, Config{})
	h2 := newHarness(t, Config{})
	if h1.d.settingsNow().PendSeed == h2.d.settingsNow().PendSeed {
		t.Fatal("two detectors drew the same seed")
	}
	h1.set(seqA)
	h2.set(seqA)
	differ := 0
	for i := range 16 {
		src := netip.AddrFrom4([4]byte{10, 77, 3, byte(i)})
		var place [2]uint32
		for j, h := range []*harness{h1, h2} {
			h.knock(src, seqA.Ports[0])
			if _, n := pendOf(t, h, src); n != 1 {
				t.Fatalf("detector %d: %v not where its seed puts it (%d entries there)", j+1, src, n)
			}
			place[j], _ = pendPlace(h, src)
		}
		if place[0] != place[1] {
			differ++
		}
	}
	// With 65,536 buckets, 16 sources all in the same bucket in both is 2^-256 unless the seed
	// is ignored.
	if differ == 0 {
		t.Error("16 sources fell in the same buckets with two different seeds")
	}
	if n := len(pendingEntries(t, h1)); n != 16 {
		t.Errorf("detector 1: %d pending entries, want 16", n)
	}
}

// A pending first port older than the timeout pairs with nothing.
func TestPendingStaleDoesNotPair(t *testing.T) {
	h := newHarness(t, Config{KnockTimeout: 50 * time.Millisecond})
	h.set(seqA)
	src := addr("10.77.0.2")
	p := seqA.Ports
	before := h.counters()
	h.knock(src, p[0])
	time.Sleep(120 * time.Millisecond)
	h.knock(src, p[1:]...)
	h.wantCompletions(0)
	h.wantNoRecord()
	if c := sourcesCount(t, h); c != 0 {
		t.Errorf("a stale first port wrote %d entries in sources", c)
	}
	if c := h.counters(); c.Resets != before.Resets {
		t.Errorf("a timed-out first port counted %d resets, want 0", c.Resets-before.Resets)
	}
	// Within the timeout the same source knocks.
	h.knock(src, p...)
	h.wantRecord(recordFor(src, seqA))
}

// Noise to random ports, from one source and from spoofed sources, with many first ports live,
// notes first ports in the pending array (hits) and resets (one source) but never writes the LRU
// map sources: no pair it makes is live.
func TestNoiseWritesNoSources(t *testing.T) {
	rng := rand.New(rand.NewPCG(20, 2))
	seqs := randomSeqs(rng, 5000, benchWindows)
	h := newHarness(t, Config{})
	h.set(seqs...)
	live := map[uint32]bool{}
	for _, s := range seqs {
		live[uint32(s.Ports[0])<<16|uint32(s.Ports[1])] = true
	}
	// next is a random port that makes no live pair after prev.
	next := func(prev uint16) uint16 {
		for {
			if p := uint16(rng.IntN(65536)); !live[uint32(prev)<<16|uint32(p)] {
				return p
			}
		}
	}
	one := addr("10.77.200.1")
	var prev uint16
	for range 3000 {
		prev = next(prev)
		h.knock(one, prev)
	}
	c := h.counters()
	if c.Hits == 0 || c.Resets == 0 {
		t.Fatalf("one source: counters %+v; the noise should have hit first ports and reset", c)
	}
	if n := sourcesCount(t, h); n != 0 {
		t.Errorf("one source's noise wrote %d entries in sources, want 0", n)
	}
	for range 3000 {
		src := netip.AddrFrom4([4]byte{10, 77, byte(rng.IntN(256)), byte(rng.IntN(256))})
		if e, _ := pendOf(t, h, src); e != 0 {
			continue // a source seen before: its pair could be live
		}
		h.knock(src, uint16(rng.IntN(65536)))
	}
	if n := sourcesCount(t, h); n != 0 {
		t.Errorf("spoofed noise wrote %d entries in sources, want 0", n)
	}
	if n := len(pendingEntries(t, h)); n < 100 {
		t.Errorf("spoofed noise left %d pending entries; with a quarter of the ports live, want hundreds", n)
	}
}
