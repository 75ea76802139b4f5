package detector

import (
	"math/rand/v2"
	"testing"
)

// nopKernel takes every write and keeps nothing: BenchmarkTableStep measures the table's own
// bookkeeping, apart from the kernel's (BenchmarkStep has both).
type nopKernel struct{}

func (nopKernel) writeSlots(ids []uint32, _ []*Sequence, _ []uint32) (int, error) {
	return len(ids), nil
}
func (nopKernel) writePairs(keys []uint32, _ []uint32, _ [][]uint32) (int, error) {
	return len(keys), nil
}
func (nopKernel) writeFirstPortBits(words []uint32, _ []uint64) (int, error) { return len(words), nil }
func (nopKernel) writePairFilter(ports []uint32, _ []uint64) (int, error)    { return len(ports), nil }
func (nopKernel) writeTags(tags []tagEntry) (int, error)                     { return len(tags), nil }
func (nopKernel) deleteTags(tags []uint64) (int, error)                      { return len(tags), nil }
func (nopKernel) setKinds(bool, bool) error                                  { return nil }
func (nopKernel) markSpent(uint32, uint32) error                             { return nil }

// BenchmarkTableStep is one time step's userspace share at 100,000 keys x 3 windows, in the
// chunks Detector.Update makes: the oldest window of every key removed, a new one added.
func BenchmarkTableStep(b *testing.B) {
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
			tab := newTable(4 * keys)
			var k nopKernel
			for w := uint64(0); w < benchWindows; w++ {
				if err := tab.apply(k, nil, gen(w)); err != nil {
					b.Fatal(err)
				}
			}
			steps := make([][]Sequence, b.N)
			for i := range steps {
				steps[i] = gen(uint64(benchWindows + i))
			}
			rm := make([]Ref, keys)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				for k := range rm {
					rm[k] = Ref{KeyID: uint32(k), Window: uint64(i)}
				}
				for r := rm; len(r) > 0; r = r[min(len(r), updateChunk):] {
					if err := tab.apply(k, r[:min(len(r), updateChunk)], nil); err != nil {
						b.Fatal(err)
					}
				}
				for a := steps[i]; len(a) > 0; a = a[min(len(a), updateChunk):] {
					if err := tab.apply(k, nil, a[:min(len(a), updateChunk)]); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			if n := tab.len(); n != benchWindows*keys {
				b.Fatalf("%d sequences loaded after the steps, want %d", n, benchWindows*keys)
			}
		})
	}
}
