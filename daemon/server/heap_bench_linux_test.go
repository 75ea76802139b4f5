package server

import (
	"runtime"
	"testing"
	"time"
)

// BenchmarkLiveHeap is the Go heap a gateway keeps for 100,000 keys once it runs: the keys, the
// server's state and the detector's mirror of the kernel table, after a start and a time step,
// collected (live-MB), and what the runtime holds from the OS for the heap (heap-sys-MB). The
// process's RSS is about the live heap times GOGC's growth (2x) plus the runtime's own.
func BenchmarkLiveHeap(b *testing.B) {
	for range b.N {
		b.StopTimer()
		s, clk, keys := benchServer(b, 100000)
		clk.Set(clk.Now().Add(30 * time.Second))
		if err := s.Refresh(); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		// Everything measured stays reachable until here.
		runtime.KeepAlive(s)
		runtime.KeepAlive(keys)
		b.ReportMetric(float64(ms.HeapAlloc)/1e6, "live-MB")
		b.ReportMetric(float64(ms.HeapSys-ms.HeapReleased)/1e6, "heap-sys-MB")
		b.StartTimer()
	}
}
