package server

import (
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/daemon/detector"
	"github.com/hideyourports/hyp/daemon/spent"
)

// benchSizes are the key counts the per-step and per-knock costs are measured at: flat per-knock
// numbers across them are the point.
var benchSizes = []int{10, 1000, 10000, 100000}

// nopFirewall grants without a kernel, so Handle's own cost is measured.
type nopFirewall struct{}

func (nopFirewall) Allow(netip.Addr, []protected.Service, time.Duration, string) error { return nil }

// benchServer is a server over the real detector maps (loaded, not attached) and a spent log on
// disk, with n keys of one use each at skew 1, as hypd runs it.
func benchServer(b *testing.B, n int) (*Server, *clock, []config.Key) {
	return benchServerT(b, n)
}

func benchServerT(b testing.TB, n int) (*Server, *clock, []config.Key) {
	b.Helper()
	keys := make([]config.Key, n)
	for i := range keys {
		k, err := psk.Generate()
		if err != nil {
			b.Fatal(err)
		}
		keys[i] = config.Key{Name: fmt.Sprintf("k%06d", i), Secret: k, Params: sequence.Defaults(),
			Services: []protected.Service{{Proto: "tcp", Port: 22}}, Open: time.Minute, Uses: 1}
	}
	slots, err := Slots(keys, 1)
	if err != nil {
		b.Fatal(err)
	}
	det, err := detector.Load(detector.Config{MaxSequences: slots})
	if err != nil {
		b.Skipf("loading the detector (needs root and BPF): %v", err)
	}
	b.Cleanup(func() { det.Close() })
	st, err := spent.Open(filepath.Join(b.TempDir(), "spent"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Unix(1_795_000_005, 0)}
	s, err := New(Options{Skew: 1, Detector: det, Firewall: nopFirewall{}, Spent: st, Now: clk.Now,
		MaxSequences: slots, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.SetKeys(keys); err != nil {
		b.Fatal(err)
	}
	return s, clk, keys
}

// BenchmarkRotation is one time step: the clock moves on 30 s and Refresh brings the kernel's
// sequences up to date. ns/op is the cost per step at that many keys.
func BenchmarkRotation(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s, clk, _ := benchServer(b, n)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				clk.Set(clk.Now().Add(30 * time.Second))
				if err := s.Refresh(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandle is one granted knock: the record checked, the use appended to the spent log
// on disk, the sequence removed from the kernel maps, a firewall that does nothing. Every key is
// knocked once per window; the clock moves on (timer stopped) when all have been.
func BenchmarkHandle(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s, clk, keys := benchServer(b, n)
			ids := make([]uint32, n)
			s.mu.Lock()
			for id, k := range s.keys {
				var i int
				fmt.Sscanf(k.Name, "k%d", &i)
				ids[i] = id
			}
			s.mu.Unlock()
			src := netip.MustParseAddr("192.0.2.7")
			win := keys[0].Params.Window(clk.Now().Unix())
			before := s.Stats().Grants
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				j := i % n
				if j == 0 && i > 0 {
					b.StopTimer()
					clk.Set(clk.Now().Add(30 * time.Second))
					if err := s.Refresh(); err != nil {
						b.Fatal(err)
					}
					win = keys[0].Params.Window(clk.Now().Unix())
					b.StartTimer()
				}
				if err := s.Handle(detector.Record{Source: src, KeyID: ids[j], Window: win}); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if got := s.Stats().Grants - before; got != uint64(b.N) {
				b.Fatalf("%d grants for %d knocks", got, b.N)
			}
		})
	}
}
