package server

import (
	"context"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"log/slog"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/spent"
)

// nopDetector takes every write and keeps nothing but the count, so that a benchmark measures
// the server's own share of a time step (the sequences computed and checked against the spent
// store), apart from the kernel maps' (daemon/detector's benchmarks).
type nopDetector struct{ n int }

func (d *nopDetector) SetSequences(seqs []detector.Sequence) error { d.n = len(seqs); return nil }
func (d *nopDetector) Update(remove []detector.Ref, add []detector.Sequence) error {
	d.n += len(add) - len(remove)
	return nil
}
func (d *nopDetector) Remove(uint32, uint64, uint32) error    { return nil }
func (d *nopDetector) MarkSpent(uint32, uint64, uint32) error { return nil }
func (d *nopDetector) Len() int                               { return d.n }
func (d *nopDetector) Read(ctx context.Context) (detector.Record, error) {
	<-ctx.Done()
	return detector.Record{}, ctx.Err()
}

// benchKeys makes n keys of one use each of scheme, as the bench's key files hold them.
func benchKeys(b testing.TB, n int, scheme sequence.Scheme) []config.Key {
	b.Helper()
	keys := make([]config.Key, n)
	for i := range keys {
		k, err := psk.Generate()
		if err != nil {
			b.Fatal(err)
		}
		p := sequence.Defaults()
		if scheme == sequence.V3 {
			p.Scheme, p.Realm = sequence.V3, "bench"
		}
		keys[i] = config.Key{Name: fmt.Sprintf("k%06d", i), Secret: k, Params: p,
			Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 1}
	}
	return keys
}

func nopServer(b testing.TB, keys []config.Key) (*Server, *clock) {
	b.Helper()
	st, err := spent.Open(filepath.Join(b.TempDir(), "spent"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Unix(1_795_000_005, 0)}
	s, err := New(Options{Skew: 1, Detector: &nopDetector{}, Firewall: nopFirewall{}, Spent: st, Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	return s, clk
}

// BenchmarkStepServer is one time step's server share at 100,000 keys: the new window's
// sequences computed, checked against the spent store and handed to a detector that keeps
// nothing. The kernel maps' share is daemon/detector's.
func BenchmarkStepServer(b *testing.B) {
	for _, scheme := range []sequence.Scheme{sequence.V2, sequence.V3} {
		b.Run(fmt.Sprintf("keys=100000/scheme=%s", scheme), func(b *testing.B) {
			s, clk := nopServer(b, nil)
			if err := s.SetKeys(benchKeys(b, 100000, scheme)); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := processCPU(b)
			for range b.N {
				clk.Set(clk.Now().Add(30 * time.Second))
				if err := s.Refresh(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkStartServer is SetKeys at start at 100,000 keys: every acceptable sequence computed
// and handed to a detector that keeps nothing.
func BenchmarkStartServer(b *testing.B) {
	keys := benchKeys(b, 100000, sequence.V2)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	for range b.N {
		b.StopTimer()
		s, _ := nopServer(b, nil)
		b.StartTimer()
		cpu0 := processCPU(b)
		if err := s.SetKeys(keys); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - cpu0
	}
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
}

// processCPU is the CPU time of the whole process so far, every thread (the garbage collector's
// too): on a shared machine a step's wall time says more about the neighbours than about it.
func processCPU(b testing.TB) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
