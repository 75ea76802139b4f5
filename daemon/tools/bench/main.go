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
//     run-time statistics, and hypd's own account of each grant's steps (its debug log);
//   - how many knocks open within 1 s while the attacker floods random ports, from one address
//     and from spoofed ones;
//   - the goals of issue #20, hypd with 10 to 100,000 keys of scheme v2 and v3 (-scale, -schemes):
//     start-up, memory, BPF map memory, CPU per time step, knock-to-open latency, the XDP
//     program's time per packet under a random-port flood from one source and from spoofed ones,
//     and at 100,000 keys the knocks that open during a million-datagram spoofed flood; with
//     -million also 1,000,000 keys. Each is printed as "hypd vs goal".
//
// `-phases goals` runs the hypd part alone, without knockd and fwknopd (make bench-hypd).
//
// The bench has no pass or fail: it prints the numbers, and says for each goal whether this run
// met it.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/hideyourports/hyp/core/sequence"
)

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "bin", "`directory` holding hyp, hypd and flood")
	flag.IntVar(&o.flood, "n", 500000, "datagrams per flood")
	flag.IntVar(&o.knocks, "knocks", 100, "knocks per latency measurement")
	flag.StringVar(&o.out, "out", "", "write the results as markdown to `file` (e.g. docs/bench.md)")
	flag.StringVar(&o.detectorBench, "detector-bench", "", "`file` with `go test -bench` output of daemon/detector to quote")
	flag.StringVar(&o.serverBench, "server-bench", "", "`file` with `go test -bench` output of daemon/server and daemon/spent to quote")
	flag.StringVar(&o.dir, "dir", "/var/lib/hyp-bench", "`directory` on a disk for keys and hypd's state (not a tmpfs)")
	flag.IntVar(&o.floodKnocks, "flood-knocks", 30, "knocks sent under each flood, each given 1 s to open")
	scale := flag.String("scale", "10,10000,100000", "comma-separated key `counts` for the goals (empty: none)")
	schemes := flag.String("schemes", "v2,v3", "comma-separated knock `schemes` of the goals' keys")
	flag.BoolVar(&o.million, "million", false, "also run hypd with 1,000,000 keys (start-up, memory, knock-to-open, time step)")
	phases := flag.String("phases", "hypd,knockd,fwknopd,goals", "comma-separated `phases` to run (hypd, knockd, fwknopd, goals)")
	flag.Parse()
	for _, f := range strings.Split(*schemes, ",") {
		sch, err := sequence.ParseScheme(strings.TrimSpace(f))
		if err != nil || sch == sequence.Hyp {
			fmt.Fprintf(os.Stderr, "bench: -schemes: %q is not v2 or v3\n", f)
			os.Exit(2)
		}
		o.schemes = append(o.schemes, sch)
	}
	for _, f := range strings.Split(*scale, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "bench: -scale: %q is not a key count\n", f)
			os.Exit(2)
		}
		o.scale = append(o.scale, n)
	}
	o.phases = strings.Split(*phases, ",")
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
	serverBench   string
	dir           string
	floodKnocks   int
	scale         []int
	schemes       []sequence.Scheme
	million       bool
	phases        []string
}

func (o options) phase(name string) bool { return slices.Contains(o.phases, name) }
