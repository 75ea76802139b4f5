package detector

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// BenchmarkXDP measures the program's own time per packet (kernel-ns/pkt, from the kernel's
// BPF run-time statistics over BPF_PROG_TEST_RUN) at 10, 10,000 and 100,000 keys x 3 windows,
// with the keys all v2 (length 4) or all v3 (length 2, tagged), for:
//   - noise: knock-sized datagrams to random ports, empty or with 8 random payload bytes, from
//     one source or from random (spoofed) sources;
//   - first: the first datagram of a live sequence (v2: its first port; v3: its port and tag),
//     each from a new source.
//
// The local-address filter is on, as Open runs it. The reply check runs as in production: the
// benchmark's network namespace has whatever conntrack state the host has.
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

func setTags(s *Sequence, tags []uint64) { s.Tags = tags }
func seqTags(s *Sequence) []uint64       { return s.Tags }
