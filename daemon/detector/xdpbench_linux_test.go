package detector

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkXDP measures the program's own time per packet at 10, 10,000 and 100,000 keys x 3
// windows, with the keys all v2 (length 4) or all v3 (length 2, tagged), two ways:
//   - kernel-ns/pkt: a different frame per BPF_PROG_TEST_RUN, timed by the kernel's BPF run-time
//     statistics: every run starts with caches a syscall and the Go runtime have used, so this
//     is the cold, upper bound (a real flood keeps the program and the hot map parts cached);
//   - hot-ns/pkt: each of 64 frames run 2,000 times in the kernel (BPF_PROG_TEST_RUN repeat),
//     timed by the test run itself, with the run-time statistics off: the program's cost with
//     its data in cache, plus the test run's own loop (the "floor" case: an ARP frame, which the
//     program passes at its first test).
//
// Cases:
//   - noise: knock-sized datagrams to random ports, empty or with 8 random payload bytes, from
//     one source or from random (spoofed) sources;
//   - first: the first datagram of a live sequence (v2: its first port; v3: its port and tag),
//     each from a new source.
//
// The local-address filter is on, as Open runs it. The reply prefilter is on, as it is once the
// egress program has watched for a reply window, with no port stamped (a gateway that sends no
// UDP of its own); the conntrack lookup, where it runs, sees the host namespace's table.
func BenchmarkXDP(b *testing.B) {
	for _, scheme := range []string{"v2", "v3"} {
		for _, keys := range []int{10, 10000, 100000} {
			b.Run(fmt.Sprintf("%s/keys=%d", scheme, keys), func(b *testing.B) {
				benchXDP(b, scheme, keys)
			})
		}
	}
}

func benchXDP(b *testing.B, scheme string, keys int) {
	rng := rand.New(rand.NewPCG(uint64(keys), 1))
	var seqs []Sequence
	if scheme == "v3" {
		seqs = randomV3Seqs(rng, keys, benchWindows)
	} else {
		seqs = randomSeqs(rng, keys, benchWindows)
	}
	h := newHarness(b, Config{RunStats: true, LocalAddrs: gatewayAddrs, MaxSequences: len(seqs) + len(seqs)/2})
	h.set(seqs...)
	enablePrefilter(b, h)

	one := netip.AddrFrom4([4]byte{10, 77, 200, 1})
	spoofed := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, 77, byte(rng.IntN(256)), byte(rng.IntN(256))})
	}
	noise := func(spoof, tagged bool) [][]byte {
		frames := make([][]byte, 8192)
		for i := range frames {
			src := one
			if spoof {
				src = spoofed()
			}
			f := frame{src: src, dst: serverFor(src), sport: 40000, dport: uint16(rng.IntN(65536))}
			if tagged {
				f.body = binary.BigEndian.AppendUint64(nil, rng.Uint64())
			}
			frames[i] = f.bytes()
		}
		return frames
	}
	for _, c := range []struct {
		name   string
		frames func() [][]byte
	}{
		{"floor", func() [][]byte {
			frames := make([][]byte, 64)
			for i := range frames {
				frames[i] = arpFrame()
			}
			return frames
		}},
		{"noise-empty/one-source", func() [][]byte { return noise(false, false) }},
		{"noise-empty/spoofed", func() [][]byte { return noise(true, false) }},
		{"noise-8byte/one-source", func() [][]byte { return noise(false, true) }},
		{"noise-8byte/spoofed", func() [][]byte { return noise(true, true) }},
		{"first", func() [][]byte {
			frames := make([][]byte, 8192)
			for i := range frames {
				src := spoofed()
				s := &seqs[rng.IntN(len(seqs))]
				f := frame{src: src, dst: serverFor(src), sport: 40000, dport: s.Ports[0]}
				if tags := seqTags(s); tags != nil {
					f.body = binary.BigEndian.AppendUint64(nil, tags[0])
				}
				frames[i] = f.bytes()
			}
			return frames
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			frames := c.frames()
			runFrames(b, h, frames)
			b.StopTimer()
			// The statistics cost two clock reads per run: off for
			// the hot measure, on again for the next case.
			if err := h.d.stats.Close(); err != nil {
				b.Fatal(err)
			}
			defer func() {
				st, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
				if err != nil {
					b.Fatal(err)
				}
				h.d.stats = st
			}()
			var total time.Duration
			for _, f := range frames[:64] {
				_, per, err := h.d.Program().Benchmark(f, 2000, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += per
			}
			b.ReportMetric(float64(total.Nanoseconds())/64, "hot-ns/pkt")
		})
	}
}

// randomV3Seqs makes v3-shaped sequences: two ports in 1024..65535, each with a random tag.
func randomV3Seqs(rng *rand.Rand, keys, windows int) []Sequence {
	out := make([]Sequence, 0, keys*windows)
	for k := range keys {
		for w := range windows {
			s := Sequence{KeyID: uint32(k), Window: uint64(1000 + w)}
			var tags []uint64
			for range 2 {
				s.Ports = append(s.Ports, uint16(1024+rng.IntN(65536-1024)))
				tags = append(tags, rng.Uint64())
			}
			setTags(&s, tags)
			out = append(out, s)
		}
	}
	return out
}

// BenchmarkStep: one time step at 100,000 keys x 3 windows loaded, through Update as the daemon
// makes it: the oldest window of every key removed, a new one added (100,000 sequences each way).
func BenchmarkStep(b *testing.B) {
	for _, scheme := range []string{"v2", "v3"} {
		b.Run(scheme, func(b *testing.B) {
			const keys = 100000
			rng := rand.New(rand.NewPCG(3, 4))
			gen := func(w uint64) []Sequence {
				var s []Sequence
				if scheme == "v3" {
					s = randomV3Seqs(rng, keys, 1)
				} else {
					s = randomSeqs(rng, keys, 1)
				}
				for i := range s {
					s[i].Window = w
				}
				return s
			}
			var all []Sequence
			for w := uint64(0); w < benchWindows; w++ {
				all = append(all, gen(w)...)
			}
			h := newHarness(b, Config{MaxSequences: 4 * keys})
			if err := h.d.Update(nil, all); err != nil {
				b.Fatal(err)
			}
			// Steps precomputed: only the detector's work is timed.
			steps := make([][]Sequence, b.N)
			for i := range steps {
				steps[i] = gen(uint64(benchWindows + i))
			}
			rm := make([]Ref, keys)
			// CPU time, not wall time, is what a step costs the gateway, and it is what a
			// shared machine measures least noisily.
			var ru0, ru1 unix.Rusage
			if err := unix.Getrusage(unix.RUSAGE_SELF, &ru0); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				for k := range rm {
					rm[k] = Ref{KeyID: uint32(k), Window: uint64(i)}
				}
				if err := h.d.Update(rm, steps[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := unix.Getrusage(unix.RUSAGE_SELF, &ru1); err != nil {
				b.Fatal(err)
			}
			cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/step")
			b.ReportMetric(float64(ru1.Stime.Nano()-ru0.Stime.Nano())/1e6/float64(b.N), "sys-ms/step")
			if n := h.d.Len(); n != benchWindows*keys {
				b.Fatalf("%d sequences loaded after the steps, want %d", n, benchWindows*keys)
			}
		})
	}
}
