package detector

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
)

// benchKeys x benchWindows sequences are loaded: a large deployment.
const (
	benchKeys    = 10000
	benchWindows = 3
)

// loadBench loads a detector with run-time stats on and 30,000 sequences.
func loadBench(b *testing.B) (*harness, []Sequence) {
	// With the local-address filter on, as Open runs it: every frame
	// goes to one of gatewayAddrs, so the whole path is measured.
	h := newHarness(b, Config{RunStats: true, LocalAddrs: gatewayAddrs})
	seqs := randomSeqs(rand.New(rand.NewPCG(5, 6)), benchKeys, benchWindows)
	h.set(seqs...)
	return h, seqs
}

// runFrames runs frames round-robin b.N times and reports, besides the
// syscall-bound ns/op, the program's own time per packet as the kernel
// measures it (BPF_ENABLE_STATS): kernel-ns/pkt.
func runFrames(b *testing.B, h *harness, frames [][]byte) {
	prog := h.d.Program()
	n0, t0, err := h.d.RunStats()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := range b.N {
		if _, err := prog.Run(&ebpf.RunOptions{Data: frames[i%len(frames)]}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n1, t1, err := h.d.RunStats()
	if err != nil {
		b.Fatal(err)
	}
	if n1 > n0 {
		b.ReportMetric(float64(t1-t0)/float64(n1-n0), "kernel-ns/pkt")
	}
}

// BenchmarkRandomPortFlood: knock-sized datagrams to random ports, as a
// scan or flood sends them, with 10,000 keys x 3 windows loaded.
func BenchmarkRandomPortFlood(b *testing.B) {
	for _, spoofed := range []bool{false, true} {
		name := "one-source"
		if spoofed {
			name = "random-sources"
		}
		b.Run(name, func(b *testing.B) {
			h, _ := loadBench(b)
			rng := rand.New(rand.NewPCG(7, 8))
			frames := make([][]byte, 8192)
			for i := range frames {
				src := netip.AddrFrom4([4]byte{10, 77, 200, 1})
				if spoofed {
					src = netip.AddrFrom4([4]byte{10, 77, byte(rng.IntN(256)), byte(rng.IntN(256))})
				}
				frames[i] = frame{src: src, dst: serverFor(src), sport: 40000, dport: uint16(rng.IntN(65536))}.bytes()
			}
			runFrames(b, h, frames)
			c := h.counters()
			b.ReportMetric(float64(c.Hits)/float64(c.Seen), "hits/pkt")
		})
	}
	// The kernel's own test-run timing: one frame repeated in the kernel,
	// no syscall per packet. A port no sequence starts at.
	b.Run("repeat-miss", func(b *testing.B) {
		h, seqs := loadBench(b)
		port := uint16(1)
		for _, s := range seqs {
			if s.Ports[0] == port {
				b.Fatal("port 1 starts a sequence")
			}
		}
		src := netip.AddrFrom4([4]byte{10, 77, 200, 1})
		data := frame{src: src, dst: serverFor(src), dport: port}.bytes()
		benchRepeat(b, h, data)
	})
}

func benchRepeat(b *testing.B, h *harness, data []byte) {
	b.ResetTimer()
	_, per, err := h.d.Program().Benchmark(data, b.N, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(per.Nanoseconds()), "kernel-ns/pkt")
}

// BenchmarkValidKnock: whole valid sequences, each completing and emitting a
// record that a reader drains, with 10,000 keys x 3 windows loaded.
func BenchmarkValidKnock(b *testing.B) {
	h, seqs := loadBench(b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			if _, err := h.d.Read(ctx); err != nil {
				return
			}
		}
	}()
	var frames [][]byte
	rng := rand.New(rand.NewPCG(9, 10))
	for i := range 64 {
		src := netip.AddrFrom4([4]byte{10, 77, 201, byte(i)})
		s := seqs[rng.IntN(len(seqs))]
		for _, p := range s.Ports {
			frames = append(frames, frame{src: src, dst: serverFor(src), sport: 40000, dport: p}.bytes())
		}
	}
	runFrames(b, h, frames)
	cancel()
	<-done
	c := h.counters()
	if c.Completions == 0 && b.N >= len(frames) {
		b.Fatalf("no completions: %+v", c)
	}
	b.ReportMetric(float64(c.Completions)/float64(c.Seen), "completions/pkt")
}

// BenchmarkRotateWindow: one time step for 10,000 keys: drop the oldest
// window, add a new one, with 30,000 sequences loaded.
func BenchmarkRotateWindow(b *testing.B) {
	h, seqs := loadBench(b)
	rng := rand.New(rand.NewPCG(11, 12))
	live := seqs
	b.ResetTimer()
	for i := range b.N {
		next := randomSeqs(rng, benchKeys, 1)
		for j := range next {
			next[j].Window = uint64(2000 + i)
		}
		// seqs are key-major: keep windows 2 and 3 of each key.
		kept := make([]Sequence, 0, len(live))
		for j, s := range live {
			if j%benchWindows != 0 {
				kept = append(kept, s)
			}
		}
		live = append(kept, next...)
		if err := h.d.SetSequences(live); err != nil {
			b.Fatal(err)
		}
		// Keep the key-major, window-ascending layout for the next round.
		live = reorder(live)
	}
}

// reorder groups sequences by key, oldest window first.
func reorder(seqs []Sequence) []Sequence {
	byKey := make([][]Sequence, benchKeys)
	for _, s := range seqs {
		byKey[s.KeyID] = append(byKey[s.KeyID], s)
	}
	out := make([]Sequence, 0, len(seqs))
	for _, ss := range byKey {
		out = append(out, ss...)
	}
	return out
}
