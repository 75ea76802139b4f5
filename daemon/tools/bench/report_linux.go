package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// named is one daemon's latency summary, for the ratios.
type named struct {
	daemon   string
	med, p99 time.Duration
}

// floodKind names a flood: to random ports, or aimed at the ports the daemon listens for.
type floodKind string

const (
	floodRandom floodKind = "random-port flood"
	floodAimed  floodKind = "flood aimed at its knock port"
)

// cpuTick is the resolution of /proc/PID/stat times: a daemon that used "0 s" used less than this.
const cpuTick = 10 * time.Millisecond

// ratios adds the comparison rows: how many times hypd's numbers the others' are.
func (b *bench) ratios() {
	for _, kind := range []floodKind{floodRandom, floodAimed} {
		cpus := b.cpu[kind]
		hyp, ok := cpus["hypd"]
		if !ok {
			continue
		}
		for _, other := range []string{"knockd", "fwknopd"} {
			c, ok := cpus[other]
			if !ok {
				continue
			}
			what := fmt.Sprintf("%s CPU / hypd CPU, %s", other, kind)
			switch {
			case c <= cpuTick && hyp < cpuTick:
				b.add("ratio", what, "both at most one 10 ms tick: no difference measurable")
			case hyp < cpuTick:
				b.add("ratio", what, "≥ %.0fx (hypd under one 10 ms tick)", c.Seconds()/cpuTick.Seconds())
			default:
				b.add("ratio", what, "%.1fx", c.Seconds()/hyp.Seconds())
			}
		}
	}
	for _, fk := range floodKinds {
		got := b.opened[fk.name]
		if _, ok := got["hypd"]; !ok {
			continue
		}
		var parts []string
		for _, d := range []string{"hypd", "knockd", "fwknopd"} {
			if n, ok := got[d]; ok {
				parts = append(parts, fmt.Sprintf("%s %d/%d", d, n, b.o.floodKnocks))
			}
		}
		b.add("ratio", "opened within 1 s during a flood to "+fk.name, "%s", strings.Join(parts, ", "))
	}
	var hyp *named
	for i := range b.medians {
		if b.medians[i].daemon == "hypd" {
			hyp = &b.medians[i]
		}
	}
	if hyp == nil || hyp.med <= 0 {
		return
	}
	for _, m := range b.medians {
		if m.daemon != "hypd" {
			b.add("ratio", m.daemon+" latency / hypd latency", "median %.1fx, p99 %.1fx",
				m.med.Seconds()/hyp.med.Seconds(), m.p99.Seconds()/hyp.p99.Seconds())
		}
	}
}

// recordCPU keeps a daemon's CPU time under a flood for the ratios.
func (b *bench) recordCPU(kind floodKind, daemon string, cpu time.Duration) {
	if b.cpu == nil {
		b.cpu = map[floodKind]map[string]time.Duration{}
	}
	if b.cpu[kind] == nil {
		b.cpu[kind] = map[string]time.Duration{}
	}
	b.cpu[kind][daemon] = cpu
}

// write saves the table and how it was made as markdown.
func (b *bench) write(path string) error {
	var sb strings.Builder
	fmt.Fprintf(&sb, "# hyp gateway benchmarks\n\n")
	fmt.Fprintf(&sb, "Written by `make bench` (`.ci/bench`, which runs `daemon/tools/bench`) on %s.\n", time.Now().UTC().Format("2006-01-02"))
	fmt.Fprintf(&sb, "Machine: %s, %d CPUs, %s of memory, Linux %s; load average %s when the run began (the machine is shared).\n", cpuModel(), runtime.NumCPU(), memTotal(), kernel(), b.load)
	fmt.Fprintf(&sb, "hypd's state directory (its spent log) is on %s: a disk, not a tmpfs.\n", b.fs)
	sb.WriteString("Numbers from one run; expect some noise.\n\n")
	sb.WriteString(`## Setup

Four network namespaces: a gateway, a client and an attacker, each joined by a veth pair to a
bridge in a fourth namespace. The gateway runs a TCP service on port 2222 and, one after the
other, each daemon protecting it:

- **hypd**: XDP detector (native mode on the veth) and the nftables table ` + "`inet hyp`" + `,
  one fresh key per knock (its key file written by the bench), open time 5 minutes, its state
  (the spent log) in a directory on a disk;
- **knockd** 0.8 (Debian): libpcap on the interface, a fixed 4-port UDP sequence, its command
  ` + "`nft add element`" + ` into a set of a table that drops tcp/2222 otherwise;
- **fwknopd** 2.6 (Debian): libpcap with its default filter ` + "`udp port 62201`" + `, Rijndael +
  HMAC single packet authorization, grants by iptables rules.

**Latency**: every knock comes from a fresh source address of the client (the gateway's
neighbour entries for them are pinned, so no knock waits for ARP). The clock starts when the last
datagram of the knock has been sent (for fwknop: its one SPA datagram, made ahead with
` + "`fwknop -T -B`" + `) and stops at the first successful TCP connect to the service: a new
non-blocking connect every 50 µs, overlapping (a SYN that arrived before the grant is dropped
and would only be sent again a second later), from one thread that stays in the client's
namespace, so the resolution is about 50 µs. (Before 2026-12-05 the clock started 200 µs after
the last datagram, a connect was tried every millisecond, each from a fresh thread switched into
the namespace: a knock that missed the first try counted about 1 ms.)

**Knocks during a flood**: while the attacker floods random ports (from its own address, then
from random spoofed sources in 198.18.0.0/15 through a raw socket), the client sends knocks from
fresh sources (each daemon's grants are flushed before each flood); a knock counts if its
connect succeeds within 1 s.

**Flood**: ` + "`daemon/tools/flood`" + ` sends knock-sized datagrams (UDP, empty payload) from
the attacker with sendmmsg, to random ports 1..65535, then again to one port the daemon listens
for. CPU is the daemon's utime+stime from /proc/PID/stat (10 ms ticks) over the flood plus one
second. The kernel's own work (XDP, or the ICMP errors and pcap copies without it) is not in
these numbers; for hypd the XDP row gives the program's time per packet from the kernel's BPF
run-time statistics (BPF_ENABLE_STATS) over the same flood.

## Results

| daemon | measure | value |
|---|---|---|
`)
	for _, r := range b.rows {
		fmt.Fprintf(&sb, "| %s | %s | %s |\n", r.daemon, r.what, r.value)
	}
	if len(b.timing) > 0 {
		sb.WriteString(`
## Where a grant's time goes

hypd's own account of the grants of the latency row (its debug line "grant timing", one per
grant; the spent log is on the disk named above). The rest of the knock-to-open time is outside
hypd: the datagrams through the veth and XDP, the ring buffer waking the reader, the SYN after
the open, and the client's connect loop, which tries every millisecond.

| daemon | step | value |
|---|---|---|
`)
		for _, r := range b.timing {
			fmt.Fprintf(&sb, "| %s | %s | %s |\n", r.daemon, r.what, r.value)
		}
	}
	if len(b.goalRows) > 0 {
		sb.WriteString(`
## The goals of issue #20: hypd vs goal

Measured in this run (the goals are judged at 100,000 keys; rows at other sizes are for the
record). XDP: the program's time per packet from the kernel's BPF run-time statistics over a
flood of knock-sized datagrams (empty for v2 keys, 8 bytes, a v3 knock's size, for v3 keys) to
random ports, from the attacker's address and from random spoofed sources in 198.18.0.0/15.
Knocks under a flood: one knock every 100 ms from a fresh source while the attacker sends a
million spoofed datagrams to random ports; a knock counts if its connect succeeds within 1 s.
The other rows are from the table below.

| goal | hypd | goal | |
|---|---|---|---|
`)
		for _, g := range b.goalRows {
			fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", g.what, g.hypd, g.goal, g.verdict)
		}
	}
	if len(b.scales) > 0 {
		sb.WriteString(`
## hypd from 10 to 100,000 keys (1,000,000 with -million)

Key files written straight into the keys directory (one use each, skew 1, the detector sized
from the keys; v3 keys are TOML files with scheme = "v3" and a realm). Start-up: from ` + "`hypd run`" + ` to
its "hypd running" line. RSS: VmRSS after the start and at the end of the run, and VmHWM (the
peak). BPF maps: the memlock of the maps hypd holds, from /proc/PID/fdinfo. CPU per step: all
of hypd's threads (schedstat, ns) from 1 s before a window boundary to 3 s after it, with no
knocks (measured for every v2 size and the largest v3 one). Knock-to-open: up to 50 knocks, as
in the latency row. Connect alone: the median of 20 connects from a source that holds a grant,
made as the knock-to-open loop makes them: the client's own share of every knock-to-open time.
XDP: ns per packet under the random-port floods, one source / spoofed.

| keys | scheme | start-up | RSS start / end (peak) | BPF maps | CPU per time step | knock-to-open | connect alone | XDP ns/packet, one source / spoofed |
|---|---|---|---|---|---|---|---|---|
`)
		for _, r := range b.scales {
			step := "-"
			if r.rotation > 0 {
				step = fmt.Sprintf("%.1f ms", float64(r.rotation.Microseconds())/1000)
			}
			xdp := "-"
			if a, ok := r.xdp[xdpOneSource]; ok {
				xdp = fmt.Sprintf("%.1f / %.1f", a.ns, r.xdp[xdpSpoofed].ns)
			}
			fmt.Fprintf(&sb, "| %d | %s | %.2f s | %.1f / %.1f MB (%.1f MB) | %.1f MB | %s | %s | %s | %s |\n", r.keys, r.scheme, r.startup.Seconds(),
				mb(r.rss), mb(r.endRSS), mb(r.peakRSS), mb(r.bpf), step, latString(r.latency), ms(r.connect), xdp)
		}
	}
	if b.o.serverBench != "" {
		lines, err := benchLines(b.o.serverBench)
		if err != nil {
			return err
		}
		if len(lines) > 0 {
			sb.WriteString("\n## Userspace, per knock and per time step\n\n" +
				"`go test -run '^$' -bench 'Rotation|Handle|StepServer|StartServer' ./daemon/server/` and `-bench Spend ./daemon/spent/`:\n" +
				"Rotation is one time step (Refresh: the new window's sequences computed and written, the\n" +
				"expired one removed, the spent log's mark fsynced) with the real BPF maps; StepServer is the\n" +
				"same step with a detector that keeps nothing (the server's own share: the sequences computed\n" +
				"and checked against the spent store), StartServer the start's SetKeys likewise; Handle is one\n" +
				"grant with a firewall that does nothing (check, append to the spent log on disk, remove from\n" +
				"the maps); Spend is the append alone with that many uses remembered.\n\n```\n")
			sb.WriteString(strings.Join(lines, "\n"))
			sb.WriteString("\n```\n")
		}
	}
	if b.o.detectorBench != "" {
		lines, err := benchLines(b.o.detectorBench)
		if err != nil {
			return err
		}
		if len(lines) > 0 {
			sb.WriteString("\n## The XDP program alone\n\n`go test -run '^$' -bench 'RandomPortFlood|^BenchmarkXDP$' ./daemon/detector/`: the program run through\n" +
				"BPF_PROG_TEST_RUN. RandomPortFlood: 10,000 keys x 3 windows loaded; kernel-ns/pkt is the kernel's own\nmeasure of the program's time per packet. " +
				"XDP: 10, 10,000 and 100,000 keys (v2 or v3) x 3 windows; hot-ns/pkt is a frame run 2,000 times in the\nkernel with its data in cache (what a flood sees), " +
				"kernel-ns/pkt one frame per run with cold caches (an upper bound); \"floor\" is\nthe test run's own loop.\n\n```\n")
			sb.WriteString(strings.Join(lines, "\n"))
			sb.WriteString("\n```\n")
		}
	}
	var load float64
	fmt.Sscan(b.load, &load)
	if load > float64(runtime.NumCPU()) {
		b.notes = append(b.notes, fmt.Sprintf("The machine was busy when the run began (load average %s on %d CPUs): every time here "+
			"includes contention, the XDP program's own time per packet too; compare the daemons within this run, as ratios, "+
			"not with another run's numbers.", b.load, runtime.NumCPU()))
	}
	// The before-and-after record is written by hand once a change is measured; a new run keeps it.
	if kept := keptSection(path, beforeAfter); kept != "" {
		sb.WriteString("\n" + kept)
	}
	if len(b.notes) > 0 {
		sb.WriteString("\n## Notes\n\n")
		for _, n := range b.notes {
			fmt.Fprintf(&sb, "- %s\n", n)
		}
	}
	if err := os.WriteFile(path, []byte(sb.String()), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	fmt.Println("wrote", path)
	return nil
}

// beforeAfter heads the section of docs/bench.md that a run keeps as it was.
const beforeAfter = "## Before and after"

// keptSection returns the section of the file at path that starts with the line heading, up to
// the next section ("## ") or the end; empty when there is none.
func keptSection(path, heading string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	text := string(data)
	i := strings.Index(text, "\n"+heading+"\n")
	if i < 0 {
		return ""
	}
	rest := text[i+1:]
	if j := strings.Index(rest[len(heading):], "\n## "); j >= 0 {
		rest = rest[:len(heading)+j+1]
	}
	return strings.TrimRight(rest, "\n") + "\n"
}

// benchLines are the result lines of a go test -bench output file.
func benchLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading -detector-bench: %w", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := sc.Text(); strings.HasPrefix(l, "Benchmark") {
			lines = append(lines, l)
		}
	}
	return lines, sc.Err()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
		}
	}
	return "unknown CPU"
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown amount"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
			var kb float64
			fmt.Sscan(strings.TrimSpace(v), &kb)
			return fmt.Sprintf("%.1f GB", kb/(1<<20))
		}
	}
	return "unknown amount"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func kernel() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}
