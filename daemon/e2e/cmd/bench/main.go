// Command bench measures a hyp gateway on a real kernel and compares it with Debian's knockd and
// fwknopd in the same run, all inside throwaway network namespaces (see package lab); `make bench`
// runs it through .ci/bench. It prints a table and, with -out, writes it as docs/bench.md.
//
// What it measures, for each daemon in turn on the same gateway namespace:
//   - knock-to-open latency: from the last datagram of a knock leaving the client to the first
//     TCP connect to the protected port that succeeds, polling a connect every millisecond; every
//     knock comes from a fresh source address (and, for hyp, with a fresh key);
//   - the daemon's CPU time (utime+stime from /proc/PID/stat) while the attacker floods the
//     gateway with knock-sized datagrams to random ports, and to the daemon's own knock ports;
//   - for hyp, the XDP program's own time per packet during the flood, from the kernel's BPF
//     run-time statistics.
//
// Numbers are printed, never judged: a bench has no pass or fail, only the table.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "`directory` holding hyp, hypd and flood")
	flag.IntVar(&o.flood, "n", 1000000, "datagrams per flood")
	flag.IntVar(&o.knocks, "knocks", 200, "knocks per latency measurement")
	flag.StringVar(&o.out, "out", "", "write the results as markdown to `file` (e.g. docs/bench.md)")
	flag.StringVar(&o.detectorBench, "detector-bench", "", "`file` with `go test -bench` output of daemon/detector to quote")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options is the command line.
type options struct {
	bin           string
	flood         int
	knocks        int
	out           string
	detectorBench string
}
