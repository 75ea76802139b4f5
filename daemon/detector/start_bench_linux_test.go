package detector

import (
	"math/rand/v2"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkStartTable is the detector's share of a start at 100,000 keys x 3 windows: the
// program and its maps loaded for 4 x 100,000 slots (as server.Slots sizes them, roughly), then
// the whole set written, as the server's first SetSequences does. CPU is the process's, every
// thread (the kernel's work for the syscalls too).
func BenchmarkStartTable(b *testing.B) {
	needRoot(b)
	const keys = 100000
	for _, scheme := range []string{"v2", "v3"} {
		b.Run(scheme, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(7, 8))
			var seqs []Sequence
			if scheme == "v3" {
				seqs = randomV3Seqs(rng, keys, benchWindows)
			} else {
				seqs = randomSeqs(rng, keys, benchWindows)
			}
			var load, set time.Duration
			b.ResetTimer()
			for range b.N {
				c0 := rusageCPU(b)
				d, err := Load(Config{MaxSequences: 4 * keys})
				if err != nil {
					b.Fatal(err)
				}
				c1 := rusageCPU(b)
				if err := d.SetSequences(seqs); err != nil {
					b.Fatal(err)
				}
				c2 := rusageCPU(b)
				load, set = load+c1-c0, set+c2-c1
				b.StopTimer()
				if err := d.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(load.Milliseconds())/float64(b.N), "load-cpu-ms")
			b.ReportMetric(float64(set.Milliseconds())/float64(b.N), "set-cpu-ms")
		})
	}
}

func rusageCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
