package detector

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hideyourports/hyp/bpf"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

// XDP verdicts.
const (
	xdpDrop = 1
	xdpPass = 2
)

func needRoot(t testing.TB) {
	t.Helper()
	needs.Root(t, "loads BPF programs")
}

// harness is a loaded, unattached detector and helpers to feed it frames.
type harness struct {
	t testing.TB
	d *Detector
}

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	needRoot(t)
	d, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Error(err)
		}
	})
	return &harness{t: t, d: d}
}

func (h *harness) run(data []byte) uint32 {
	h.t.Helper()
	ret, err := h.d.Program().Run(&ebpf.RunOptions{Data: data})
	if err != nil {
		h.t.Fatalf("running program on %d-byte frame: %v", len(data), err)
	}
	return ret
}

// knock sends one knock-sized datagram per port from src and checks each is
// dropped.
func (h *harness) knock(src netip.Addr, ports ...uint16) {
	h.t.Helper()
	for _, p := range ports {
		f := frame{src: src, dst: serverFor(src), sport: 40000, dport: p}
		if v := h.run(f.bytes()); v != xdpDrop {
			h.t.Fatalf("knock datagram %v -> port %d: verdict %d, want XDP_DROP", src, p, v)
		}
	}
}

func (h *harness) set(seqs ...Sequence) {
	h.t.Helper()
	if err := h.d.SetSequences(seqs); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) counters() Counters {
	h.t.Helper()
	c, err := h.d.Counters()
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

func (h *harness) wantCompletions(n uint64) {
	h.t.Helper()
	if c := h.counters(); c.Completions != n {
		h.t.Fatalf("completions = %d, want %d (counters %+v)", c.Completions, n, c)
	}
}

// read returns the next record, or false if none arrives within wait.
func (h *harness) read(wait time.Duration) (Record, bool) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	rec, err := h.d.Read(ctx)
	if errors.Is(err, context.DeadlineExceeded) {
		return Record{}, false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return rec, true
}

func (h *harness) wantRecord(want Record) {
	h.t.Helper()
	got, ok := h.read(2 * time.Second)
	if !ok {
		h.t.Fatalf("no record, want %+v", want)
	}
	if got != want {
		h.t.Fatalf("record %+v, want %+v", got, want)
	}
}

func (h *harness) wantNoRecord() {
	h.t.Helper()
	if got, ok := h.read(20 * time.Millisecond); ok {
		h.t.Fatalf("unexpected record %+v", got)
	}
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func serverFor(src netip.Addr) netip.Addr {
	if src.Is4() {
		return addr("10.77.0.1")
	}
	return addr("fd77::1")
}

func recordFor(src netip.Addr, s Sequence) Record {
	return Record{Source: src, KeyID: s.KeyID, Window: s.Window, Counter: s.Counter}
}

// randomSeqs makes n sequences of length 4 with ports in 1024..65535, as v2
// would, for keys 0..n/windows-1 and the given number of windows.
func randomSeqs(rng *rand.Rand, keys, windows int) []Sequence {
	var out []Sequence
	for k := range keys {
		for w := range windows {
			s := Sequence{KeyID: uint32(k), Window: uint64(1000 + w)}
			for range 4 {
				s.Ports = append(s.Ports, uint16(1024+rng.IntN(65536-1024)))
			}
			out = append(out, s)
		}
	}
	return out
}

var seqA = Sequence{KeyID: 1, Window: 58000000, Counter: 0, Ports: []uint16{41000, 2222, 65535, 1024}}

func TestValidKnockCompletesOnce(t *testing.T) {
	h := newHarness(t, Config{})
	other := Sequence{KeyID: 2, Window: 58000000, Counter: 1, Ports: []uint16{5000, 6000, 7000, 8000}}
	h.set(seqA, other)
	src := addr("10.77.0.2")

	h.knock(src, seqA.Ports...)
	h.wantCompletions(1)
	h.wantRecord(recordFor(src, seqA))

	// A fifth datagram repeating the last port is just a knock-sized
	// datagram with no progress behind it: nothing completes.
	h.knock(src, seqA.Ports[3])
	h.wantCompletions(1)
	h.wantNoRecord()

	c := h.counters()
	if c.Seen != 5 || c.Hits != 3 || c.Completions != 1 || c.Resets != 0 || c.RingbufDrops != 0 {
		t.Errorf("counters %+v, want seen 5, hits 3, completions 1", c)
	}

	// Two sources interleaved keep separate progress.
	s1, s2 := addr("10.77.0.3"), addr("10.77.0.4")
	for i := range 4 {
		h.knock(s1, seqA.Ports[i])
		h.knock(s2, other.Ports[i])
	}
	got := map[Record]bool{}
	for range 2 {
		r, ok := h.read(2 * time.Second)
		if !ok {
			t.Fatal("missing record for interleaved sources")
		}
		got[r] = true
	}
	if !got[recordFor(s1, seqA)] || !got[recordFor(s2, other)] {
		t.Errorf("interleaved records %v", got)
	}
}

func TestWrongOrderResets(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	src := addr("10.77.0.2")
	p := seqA.Ports
	h.knock(src, p[1], p[2], p[3]) // no first port
	h.knock(src, p[0], p[2], p[1], p[3])
	h.knock(src, p[0], p[1], p[3], p[2])
	h.knock(src, p[3], p[2], p[1], p[0])
	h.wantCompletions(0)
	if c := h.counters(); c.Resets == 0 {
		t.Errorf("no resets counted: %+v", c)
	}
	// After all that the right order still works.
	h.knock(src, p...)
	h.wantRecord(recordFor(src, seqA))
}

func TestInterleavedPortResets(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	src := addr("10.77.0.2")
	p := seqA.Ports
	h.knock(src, p[0], p[1], 3333, p[2], p[3])
	h.wantCompletions(0)
	before := h.counters().Resets
	h.knock(src, p[0], p[1], p[2], 4444, p[3])
	h.wantCompletions(0)
	if got := h.counters().Resets; got != before+1 {
		t.Errorf("resets %d, want %d", got, before+1)
	}
	// A reset retries the port as a first port: p0 p1 X p0..p3 completes.
	h.knock(src, p[0], p[1], 3333, p[0], p[1], p[2], p[3])
	h.wantRecord(recordFor(src, seqA))
	h.wantCompletions(1)
}

func TestSweepNeverCompletes(t *testing.T) {
	h := newHarness(t, Config{UDPServices: []uint16{51820}})
	rng := rand.New(rand.NewPCG(1, 2))
	seqs := randomSeqs(rng, 20, 3)
	// Sequences a sweep brushes against: first two ports adjacent in one
	// direction, and two sharing a first port with others.
	seqs = append(seqs,
		Sequence{KeyID: 100, Window: 1, Ports: []uint16{30000, 30001, 40000, 50000}},
		Sequence{KeyID: 101, Window: 1, Ports: []uint16{30001, 30000, 29999, 10}},
		Sequence{KeyID: 102, Window: 1, Ports: []uint16{30000, 30002, 30004, 30006}},
		Sequence{KeyID: 103, Window: 1, Ports: []uint16{30000, 20000, 20001, 20002}},
	)
	h.set(seqs...)

	ascending := make([]int, 65536)
	for i := range ascending {
		ascending[i] = i
	}
	descending := slices.Clone(ascending)
	slices.Reverse(descending)
	shuffled := slices.Clone(ascending)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })

	for i, order := range [][]int{ascending, descending, shuffled} {
		src := netip.AddrFrom4([4]byte{10, 77, 1, byte(i)})
		f := frame{src: src, dst: serverFor(src), sport: 40000}
		for _, port := range order {
			f.dport = uint16(port)
			want := uint32(xdpDrop)
			if port == 51820 {
				want = xdpPass
			}
			if v := h.run(f.bytes()); v != want {
				t.Fatalf("sweep %d port %d: verdict %d, want %d", i, port, v, want)
			}
		}
		h.wantCompletions(0)
	}
	c := h.counters()
	if c.Seen != 3*65535 || c.Hits == 0 {
		t.Errorf("counters %+v, want seen %d and some hits", c, 3*65535)
	}
	h.wantNoRecord()

	// The loaded sequences still work after the sweeps.
	src := addr("10.77.1.9")
	h.knock(src, seqs[7].Ports...)
	h.wantRecord(recordFor(src, seqs[7]))
}

func TestIPv6Knock(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	src := addr("fd77::2")
	h.knock(src, seqA.Ports...)
	h.wantRecord(recordFor(src, seqA))

	// A v6 packet from ::ffff:10.77.0.2 (the stack would discard it) is
	// not a knock: see TestV4MappedSourcePasses.
}

func TestVLANTaggedKnock(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	for _, tpid := range []uint16{tpid8021Q, tpid8021A} {
		src := addr("10.77.0.2")
		for _, p := range seqA.Ports {
			f := frame{src: src, dst: serverFor(src), sport: 1, dport: p, vlans: []uint16{tpid}}
			if v := h.run(f.bytes()); v != xdpDrop {
				t.Fatalf("tagged (%#x) knock to %d: verdict %d", tpid, p, v)
			}
		}
		h.wantRecord(recordFor(src, seqA))
	}
	// Two tags: not parsed, passes, does not count.
	before := h.counters()
	f := frame{src: addr("10.77.0.2"), dst: addr("10.77.0.1"), dport: seqA.Ports[0], vlans: []uint16{tpid8021A, tpid8021Q}}
	if v := h.run(f.bytes()); v != xdpPass {
		t.Errorf("double-tagged frame: verdict %d, want XDP_PASS", v)
	}
	if after := h.counters(); after != before {
		t.Errorf("double-tagged frame changed counters: %+v -> %+v", before, after)
	}
}

func TestIPv4OptionsKnock(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	src := addr("10.77.0.2")
	for opt := 4; opt <= 40; opt += 4 {
		for _, p := range seqA.Ports {
			f := frame{src: src, dst: serverFor(src), dport: p, ipOptions: opt, payload: 1}
			if v := h.run(f.bytes()); v != xdpDrop {
				t.Fatalf("IHL %d knock to %d: verdict %d", 5+opt/4, p, v)
			}
		}
		h.wantRecord(recordFor(src, seqA))
	}
}

func TestTruncatedFrames(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	frames := map[string]frame{
		"ipv4":         {src: addr("10.77.0.2"), dst: addr("10.77.0.1"), dport: seqA.Ports[0], payload: 3},
		"ipv4-options": {src: addr("10.77.0.2"), dst: addr("10.77.0.1"), dport: seqA.Ports[0], ipOptions: 12},
		"ipv6":         {src: addr("fd77::2"), dst: addr("fd77::1"), dport: seqA.Ports[0], payload: 16},
		"vlan-ipv4":    {src: addr("10.77.0.2"), dst: addr("10.77.0.1"), dport: seqA.Ports[0], vlans: []uint16{tpid8021Q}},
		"vlan-ipv6":    {src: addr("fd77::2"), dst: addr("fd77::1"), dport: seqA.Ports[0], vlans: []uint16{tpid8021A}},
	}
	for name, f := range frames {
		full := f.bytes()
		before := h.counters()
		for n := 14; n < len(full); n++ {
			if v := h.run(full[:n]); v != xdpPass {
				t.Errorf("%s truncated to %d of %d bytes: verdict %d, want XDP_PASS", name, n, len(full), v)
			}
		}
		if after := h.counters(); after != before {
			t.Errorf("%s: truncated frames changed counters: %+v -> %+v", name, before, after)
		}
		if v := h.run(full); v != xdpDrop {
			t.Errorf("%s whole: verdict %d, want XDP_DROP", name, v)
		}
		// Ethernet padding after the IP packet is fine.
		f.pad = 30
		if v := h.run(f.bytes()); v != xdpDrop {
			t.Errorf("%s padded: verdict %d, want XDP_DROP", name, v)
		}
	}
	// The kernel refuses XDP test input shorter than an Ethernet header;
	// the program never sees it.
	if _, err := h.d.Program().Run(&ebpf.RunOptions{Data: make([]byte, 13)}); err == nil {
		t.Error("kernel accepted a 13-byte XDP test frame")
	}
	// Lying length fields pass.
	src := addr("10.77.0.2")
	for _, f := range []frame{
		{src: src, dst: serverFor(src), dport: seqA.Ports[0], udpLen: 7},
		{src: src, dst: serverFor(src), dport: seqA.Ports[0], udpLen: 30},
		{src: addr("fd77::2"), dst: addr("fd77::1"), dport: seqA.Ports[0], udpLen: 100},
	} {
		if v := h.run(f.bytes()); v != xdpPass {
			t.Errorf("UDP length %d: verdict %d, want XDP_PASS", f.udpLen, v)
		}
	}
}

func TestFragmentsNeverCount(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	src := addr("10.77.0.2")
	for _, frag := range []uint16{0x2000 /* MF */, 0x0001 /* offset 8 */, 0x2010, 0x1fff} {
		for _, p := range seqA.Ports {
			f := frame{src: src, dst: serverFor(src), dport: p, fragOff: frag}
			if v := h.run(f.bytes()); v != xdpPass {
				t.Fatalf("IPv4 fragment (frag_off %#x) to %d: verdict %d, want XDP_PASS", frag, p, v)
			}
		}
	}
	src6 := addr("fd77::2")
	// Any extension header, the fragment header first of all, means not a
	// knock.
	for _, exts := range [][]uint8{{44}, {0}, {60}, {0, 44}, {43}} {
		for _, p := range seqA.Ports {
			f := frame{src: src6, dst: serverFor(src6), dport: p, v6Exts: exts}
			if v := h.run(f.bytes()); v != xdpPass {
				t.Fatalf("IPv6 with extension headers %v to %d: verdict %d, want XDP_PASS", exts, p, v)
			}
		}
	}
	if c := h.counters(); c.Seen != 0 || c.Completions != 0 {
		t.Errorf("fragments counted: %+v", c)
	}
	// DF set is an ordinary datagram.
	for _, p := range seqA.Ports {
		f := frame{src: src, dst: serverFor(src), dport: p, fragOff: 0x4000}
		if v := h.run(f.bytes()); v != xdpDrop {
			t.Fatalf("DF knock to %d: verdict %d", p, v)
		}
	}
	h.wantRecord(recordFor(src, seqA))
}

func TestNonKnocksPass(t *testing.T) {
	h := newHarness(t, Config{UDPServices: []uint16{51820, 53}})
	h.set(seqA, Sequence{KeyID: 9, Window: 1, Ports: []uint16{53, 1, 2, 3}})
	src := addr("10.77.0.2")
	p := seqA.Ports
	cases := map[string][]byte{
		"arp":          arpFrame(),
		"tcp-syn":      frame{src: src, dst: serverFor(src), dport: p[0], proto: 6}.bytes(),
		"tcp6-syn":     frame{src: addr("fd77::2"), dst: addr("fd77::1"), dport: p[0], proto: 6}.bytes(),
		"icmp":         frame{src: src, dst: serverFor(src), proto: 1}.bytes(),
		"udp-17-bytes": frame{src: src, dst: serverFor(src), dport: p[0], payload: 17}.bytes(),
		"udp6-1000":    frame{src: addr("fd77::2"), dst: addr("fd77::1"), dport: p[0], payload: 1000}.bytes(),
		"udp-service":  frame{src: src, dst: serverFor(src), dport: 51820}.bytes(),
		"udp6-service": frame{src: addr("fd77::2"), dst: addr("fd77::1"), dport: 53, payload: 16}.bytes(),
		"ipx":          append([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x81, 0x37}, make([]byte, 40)...),
	}
	for name, b := range cases {
		if v := h.run(b); v != xdpPass {
			t.Errorf("%s: verdict %d, want XDP_PASS", name, v)
		}
	}
	if c := h.counters(); c != (Counters{}) {
		t.Errorf("non-knocks changed counters: %+v", c)
	}

	// Large datagrams are invisible to progress: they neither advance
	// nor reset it.
	big := func(port uint16) []byte {
		return frame{src: src, dst: serverFor(src), dport: port, payload: 17}.bytes()
	}
	h.knock(src, p[0], p[1], p[2])
	if v := h.run(big(p[3])); v != xdpPass {
		t.Fatalf("17-byte datagram to last port: verdict %d", v)
	}
	h.wantCompletions(0)
	h.run(big(9999))
	h.knock(src, p[3])
	h.wantRecord(recordFor(src, seqA))
	// 16 bytes is still a knock.
	for _, port := range p {
		f := frame{src: src, dst: serverFor(src), dport: port, payload: 16}
		if v := h.run(f.bytes()); v != xdpDrop {
			t.Fatalf("16-byte knock: verdict %d", v)
		}
	}
	h.wantRecord(recordFor(src, seqA))
}

func TestKnockTimeout(t *testing.T) {
	h := newHarness(t, Config{KnockTimeout: time.Millisecond})
	h.set(seqA)
	src := addr("10.77.0.2")
	p := seqA.Ports
	h.knock(src, p[0], p[1])
	time.Sleep(5 * time.Millisecond)
	h.knock(src, p[2], p[3])
	h.wantCompletions(0)
	h.wantNoRecord()

	if err := h.d.SetKnockTimeout(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	h.knock(src, p[0], p[1])
	time.Sleep(5 * time.Millisecond)
	h.knock(src, p[2], p[3])
	h.wantRecord(recordFor(src, seqA))
}

func TestRemovedSequenceNeverCompletes(t *testing.T) {
	h := newHarness(t, Config{})
	b := Sequence{KeyID: 2, Window: 7, Ports: []uint16{1111, 2222, 3333, 4444}}
	h.set(seqA, b)
	src := addr("10.77.0.2")

	// Spent before it was ever sent.
	if err := h.d.Remove(seqA.KeyID, seqA.Window, seqA.Counter); err != nil {
		t.Fatal(err)
	}
	h.knock(src, seqA.Ports...)
	h.wantCompletions(0)

	// Spent part-way through: the progress dies with it.
	h.knock(src, b.Ports[0], b.Ports[1])
	if err := h.d.Remove(b.KeyID, b.Window, b.Counter); err != nil {
		t.Fatal(err)
	}
	h.knock(src, b.Ports[2], b.Ports[3])
	h.wantCompletions(0)
	h.wantNoRecord()
	if h.d.Len() != 0 {
		t.Errorf("Len = %d after removing both", h.d.Len())
	}
	// Removing again is harmless.
	if err := h.d.Remove(b.KeyID, b.Window, b.Counter); err != nil {
		t.Errorf("second Remove: %v", err)
	}

	// Left out of the next SetSequences: gone too.
	h.set(seqA)
	h.set(b)
	h.knock(src, seqA.Ports...)
	h.wantCompletions(0)
	h.knock(src, b.Ports...)
	h.wantRecord(recordFor(src, b))
}

func TestReusedSlotDoesNotInheritProgress(t *testing.T) {
	// One slot: the next sequence must reuse it.
	h := newHarness(t, Config{MaxSequences: 1})
	a := Sequence{KeyID: 1, Window: 1, Ports: []uint16{1000, 2000, 3000, 4000}}
	b := Sequence{KeyID: 2, Window: 1, Ports: []uint16{5000, 6000, 3000, 4000}}
	h.set(a)
	src := addr("10.77.0.2")
	h.knock(src, a.Ports[0], a.Ports[1])
	h.set(b)
	h.knock(src, a.Ports[2], a.Ports[3])
	h.wantCompletions(0)
	h.knock(src, b.Ports...)
	h.wantRecord(recordFor(src, b))
	if err := h.d.SetSequences([]Sequence{a, b}); err == nil || !strings.Contains(err.Error(), "MaxSequences") {
		t.Errorf("SetSequences over capacity: %v", err)
	}
}

func TestStaleRecordSkipped(t *testing.T) {
	h := newHarness(t, Config{})
	b := Sequence{KeyID: 2, Window: 7, Ports: []uint16{1111, 2222, 3333, 4444}}
	h.set(seqA, b)
	src := addr("10.77.0.2")
	h.knock(src, seqA.Ports...)
	h.wantCompletions(1)
	// Spent between completion and Read: its record is not reported.
	if err := h.d.Remove(seqA.KeyID, seqA.Window, seqA.Counter); err != nil {
		t.Fatal(err)
	}
	h.knock(src, b.Ports...)
	h.wantRecord(recordFor(src, b))
	if c := h.counters(); c.Stale != 1 {
		t.Errorf("stale = %d, want 1", c.Stale)
	}
}

// TestNoFirstPortCap: any number of port sequences can start at one first port (the old program
// followed only bpf.K of them, so a port shared by more could not start the rest); the limit is
// bpf.K sequences that share their first two ports, and it is tested here at bpf.K and beyond.
func TestNoFirstPortCap(t *testing.T) {
	h := newHarness(t, Config{})
	// 4 x 1024 sequences at one first port: more than the hyp scheme's 256 first ports give any
	// port with 256 keys x 3 windows, and more than v2 at 1,000,000 keys.
	var seqs []Sequence
	for i := range 4096 {
		seqs = append(seqs, Sequence{KeyID: uint32(i), Window: 1, Ports: []uint16{7000, uint16(8000 + i), 9000, uint16(10000 + i%7)}})
	}
	h.set(seqs...)
	src := addr("10.77.0.2")
	for _, i := range []int{0, bpf.K, bpf.K + 1, 1000, 4095} {
		h.knock(src, seqs[i].Ports...)
		h.wantRecord(recordFor(src, seqs[i]))
	}
	if c := h.counters(); c.Overflows != 0 {
		t.Errorf("overflows = %d, want 0", c.Overflows)
	}
}

// TestPairLimit: bpf.K sequences that share their first two ports all start, each also while all
// bpf.K are candidates at once; one more is counted as an overflow and cannot start until one of
// the first bpf.K is removed.
func TestPairLimit(t *testing.T) {
	h := newHarness(t, Config{})
	var seqs []Sequence
	for i := range bpf.K + 1 {
		seqs = append(seqs, Sequence{KeyID: uint32(i), Window: 1, Ports: []uint16{7000, 7001, 9000, uint16(10000 + i)}})
	}
	h.set(seqs...)
	src := addr("10.77.0.2")
	last := seqs[bpf.K]
	h.knock(src, last.Ports...)
	h.wantCompletions(0)
	if c := h.counters(); c.Overflows != 1 {
		t.Errorf("overflows = %d, want 1", c.Overflows)
	}
	for i := range bpf.K {
		h.knock(src, seqs[i].Ports...)
		h.wantRecord(recordFor(src, seqs[i]))
	}
	// Remove two: the overflowed one moves up and works.
	for _, s := range seqs[:2] {
		if err := h.d.Remove(s.KeyID, s.Window, s.Counter); err != nil {
			t.Fatal(err)
		}
	}
	h.knock(src, last.Ports...)
	h.wantRecord(recordFor(src, last))
}

func TestSequenceShapes(t *testing.T) {
	h := newHarness(t, Config{})
	long := Sequence{KeyID: 5, Window: 9}
	for i := range bpf.MaxLen {
		long.Ports = append(long.Ports, uint16(20000+i*7))
	}
	short := Sequence{KeyID: 6, Window: 9, Ports: []uint16{100, 200}}
	repeated := Sequence{KeyID: 7, Window: 9, Ports: []uint16{300, 300, 300, 400}}
	h.set(long, short, repeated)
	src := addr("fd77::9")
	h.knock(src, long.Ports...)
	h.wantRecord(recordFor(src, long))
	h.knock(src, short.Ports...)
	h.wantRecord(recordFor(src, short))
	h.knock(src, 300, 300, 400)
	h.wantNoRecord()
	h.knock(src, repeated.Ports...)
	h.wantRecord(recordFor(src, repeated))

	for _, bad := range [][]Sequence{
		{{KeyID: 1, Ports: []uint16{1}}},
		{{KeyID: 1, Ports: make([]uint16, bpf.MaxLen+1)}},
		{short, short},
	} {
		if err := h.d.SetSequences(bad); err == nil {
			t.Errorf("SetSequences accepted %v", bad)
		}
	}
	// A rejected set changes nothing.
	h.knock(src, short.Ports...)
	h.wantRecord(recordFor(src, short))
}

func TestReadCancelAndClose(t *testing.T) {
	needRoot(t)
	d, err := Load(Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := d.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Read with expiring context: %v", err)
	}
	// A later Read is not disturbed by the earlier flush.
	h := &harness{t: t, d: d}
	h.set(seqA)
	h.knock(addr("10.77.0.2"), seqA.Ports...)
	h.wantRecord(recordFor(addr("10.77.0.2"), seqA))

	done := make(chan error, 1)
	go func() {
		_, err := d.Read(context.Background())
		done <- err
	}()
	// Not synchronisation: Close before or during Read must both give ErrClosed; the pause makes
	// the interesting order, a Read already blocked in the ring buffer, the likely one.
	time.Sleep(20 * time.Millisecond)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("blocked Read after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if _, err := d.Read(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConcurrentSetAndRead(t *testing.T) {
	h := newHarness(t, Config{})
	rng := rand.New(rand.NewPCG(3, 4))
	seqs := randomSeqs(rng, 200, 3)
	h.set(seqs...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan Record, 100)
	go func() {
		for {
			r, err := h.d.Read(ctx)
			if err != nil {
				close(got)
				return
			}
			got <- r
		}
	}()
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		for w := range 20 {
			next := randomSeqs(rng, 200, 3)
			for i := range next {
				next[i].Window += uint64(w + 1)
			}
			if err := h.d.SetSequences(append(next, seqs[0])); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	src := addr("10.77.0.2")
	h.knock(src, seqs[0].Ports...)
	<-stop
	select {
	case r := <-got:
		if r != recordFor(src, seqs[0]) {
			t.Errorf("record %+v", r)
		}
	case <-time.After(2 * time.Second):
		t.Error("no record")
	}
	cancel()
	for range got {
	}
}

func TestRunStats(t *testing.T) {
	h := newHarness(t, Config{RunStats: true})
	h.set(seqA)
	n0, _, err := h.d.RunStats()
	if err != nil {
		t.Fatal(err)
	}
	h.knock(addr("10.77.0.2"), seqA.Ports...)
	n1, ns, err := h.d.RunStats()
	if err != nil {
		t.Fatal(err)
	}
	if n1-n0 != 4 || ns == 0 {
		t.Errorf("run stats: %d runs (want 4 more than %d), %d ns", n1, n0, ns)
	}
	h2 := newHarness(t, Config{})
	if _, _, err := h2.d.RunStats(); err == nil {
		t.Error("RunStats without Config.RunStats succeeded")
	}
}

func TestProgressState(t *testing.T) {
	h := newHarness(t, Config{})
	h.set(seqA)
	src := addr("10.77.0.2")
	// The key is the address bytes, IPv4 mapped, read as host-order words.
	var key bpf.Addr
	a16 := src.As16()
	for i := range key.W {
		key.W[i] = binary.NativeEndian.Uint32(a16[4*i:])
	}
	var p bpf.Progress
	h.knock(src, seqA.Ports[0], seqA.Ports[1])
	if err := h.d.objs.Sources.Lookup(&key, &p); err != nil {
		t.Fatalf("no progress for %v: %v", src, err)
	}
	id, gen, pos := bpf.UnpackCandidate(p.C[0])
	h.d.mu.Lock()
	wantID := h.d.tab.slotOf(seqA.ident())
	wantGen := h.d.tab.slots[wantID].gen
	h.d.mu.Unlock()
	if p.N != 1 || id != wantID || gen != wantGen || pos != 2 || p.StartNs == 0 {
		t.Errorf("progress %+v: candidate id %d gen %d pos %d, want n 1, id %d gen %d pos 2", p, id, gen, pos, wantID, wantGen)
	}
	// A wrong port empties it in place.
	h.knock(src, 9)
	if err := h.d.objs.Sources.Lookup(&key, &p); err != nil || p.N != 0 {
		t.Errorf("after a wrong port: progress %+v, %v; want n 0", p, err)
	}
}

// A key file added at run time may name a UDP service: its datagrams must pass from then on, and a
// service that goes away becomes a drop-everything port like any other.
func TestSetUDPServicesAtRunTime(t *testing.T) {
	h := newHarness(t, Config{UDPServices: []uint16{53}})
	src := addr("10.77.0.2")
	to := func(port uint16) []byte { return frame{src: src, dst: serverFor(src), dport: port}.bytes() }
	if v := h.run(to(51820)); v != xdpDrop {
		t.Fatalf("before: udp/51820 verdict %d, want drop", v)
	}
	if err := h.d.SetUDPServices([]uint16{51820, 51821}); err != nil {
		t.Fatal(err)
	}
	for port, want := range map[uint16]uint32{51820: xdpPass, 51821: xdpPass, 53: xdpDrop, 51822: xdpDrop} {
		if v := h.run(to(port)); v != want {
			t.Errorf("after: udp/%d verdict %d, want %d", port, v, want)
		}
	}
}
