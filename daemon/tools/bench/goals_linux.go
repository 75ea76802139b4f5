package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/cilium/ebpf"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

// The goals of issue #20, judged at goalKeys keys.
const (
	goalKeys        = 100000
	goalXDPNs       = 50.0                   // XDP time per random-port flood packet
	goalOpened      = 0.99                   // knocks opened within 1 s during the spoofed flood
	goalStepCPU     = 50 * time.Millisecond  // CPU per time step
	goalRSS         = 40 << 20               // bytes
	goalStart       = 3 * time.Second        // from `hypd run` to "hypd running"
	goalP50         = 200 * time.Microsecond // knock-to-open
	goalP99         = 5 * time.Millisecond
	goalFloodLength = 1000000 // datagrams in the spoofed flood the knocks are sent under
	millionKeys     = 1000000
)

// scaleRow is hypd measured with one number of keys of one scheme.
type scaleRow struct {
	keys              int
	scheme            sequence.Scheme
	startup           time.Duration
	rss, peakRSS, bpf uint64 // bytes: VmRSS after the start and after the step, VmHWM at the end
	endRSS            uint64
	rotation          time.Duration // 0: not measured
	latency           latencies
	connect           time.Duration // median connect from a granted source: the client's own share
	mapsCounted       int
	// xdp is the program's time per packet under a random-port flood, from one source and
	// spoofed; sent is the datagrams of each flood.
	xdp map[string]xdpResult
	// opened and tried are the knocks sent under a goalFloodLength-datagram spoofed flood.
	opened, tried int
	openLat       []time.Duration
}

// xdpResult is one flood as the XDP program saw it.
type xdpResult struct {
	ns   float64
	runs uint64
	sent int
	rate float64
}

// The two floods of the XDP rows.
const (
	xdpOneSource = "one source"
	xdpSpoofed   = "spoofed sources"
)

// goalKnocks is how many knocks measure knock-to-open at each size (p99 of 50 is the second
// slowest).
const goalKnocks = 50

// goals runs hypd with every number of keys of -scale and every scheme of -schemes and measures
// what issue #20 sets goals for: start-up, memory, CPU per time step, knock-to-open, the XDP
// program's time per flood packet (one source and spoofed), and at goalKeys the knocks that open
// during a million-datagram spoofed flood. With -million, a run with 1,000,000 v2 keys too.
func (b *bench) goals() error {
	largest := slices.Max(append([]int{0}, b.o.scale...))
	for _, scheme := range b.o.schemes {
		for _, n := range b.o.scale {
			r, err := b.scaleOne(n, scheme, scaleWhat{
				step:       scheme == sequence.V2 || n == largest,
				floods:     true,
				underFlood: n == largest,
			})
			if err != nil {
				return fmt.Errorf("%d %s keys: %w", n, scheme, err)
			}
			b.scales = append(b.scales, r)
		}
	}
	// The floors under the same floods, with the sizes the schemes' rows used.
	b.floors = map[int]map[string]map[string]xdpResult{}
	for _, scheme := range b.o.schemes {
		size := floodSize(scheme)
		if _, done := b.floors[size]; done {
			continue
		}
		f, err := b.xdpFloors(size)
		if err != nil {
			return err
		}
		b.floors[size] = f
	}
	if b.o.million {
		r, err := b.scaleOne(millionKeys, sequence.V2, scaleWhat{step: true})
		if err != nil {
			return fmt.Errorf("%d keys: %w", millionKeys, err)
		}
		b.scales = append(b.scales, r)
	}
	b.judge()
	return nil
}

// scaleWhat is what one scale run measures beyond start-up, memory and knock-to-open.
type scaleWhat struct {
	step       bool // CPU of one time step (waits for a window boundary)
	floods     bool // the XDP rows
	underFlood bool // knocks under a goalFloodLength spoofed flood
}

func (b *bench) scaleOne(n int, scheme sequence.Scheme, what scaleWhat) (scaleRow, error) {
	r := scaleRow{keys: n, scheme: scheme, xdp: map[string]xdpResult{}}
	l := b.lab
	params := benchParams(scheme)
	dir := filepath.Join(b.dir, fmt.Sprintf("scale-%s-%d", scheme, n))
	fmt.Printf("hypd with %d %s keys: writing the key files\n", n, scheme)
	keys, err := writeKeys(filepath.Join(dir, "keys"), n, scheme)
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &lineWatch{running: make(chan struct{})}
	cmd := l.Gateway.Command(ctx, b.bin("hypd"), "run", "--interface", netlab.Iface, "--keys", filepath.Join(dir, "keys"),
		"--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "5m", "--state", filepath.Join(dir, "state"),
		"--control", filepath.Join(dir, "hypd.sock"))
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cancel()
		<-exited
		_, _ = l.Gateway.Output(b.bin("hypd"), "cleanup")
	}()
	select {
	case <-w.running:
		r.startup = time.Since(start)
	case err := <-exited:
		return r, fmt.Errorf("hypd exited (%v) before running:\n%s", err, w.String())
	case <-time.After(5 * time.Minute):
		return r, fmt.Errorf("hypd not running after 5 minutes:\n%s", w.String())
	}
	pid := cmd.Process.Pid
	if r.rss, r.peakRSS, err = rss(pid); err != nil {
		return r, err
	}
	if r.bpf, r.mapsCounted, err = bpfMapMemory(pid); err != nil {
		return r, err
	}

	// Keys and sources are each used once: key i from source i for the latency, then those
	// after them under the flood.
	next := 0
	knock := func(_ int, src netip.Addr) error {
		k := keys[next%len(keys)]
		next++
		return b.knockKey(src, k, params)
	}
	nLat := min(goalKnocks, len(b.sources), n)
	r.latency, err = b.knocksFrom(b.sources[:nLat], 3*time.Second, knock)
	if err != nil {
		return r, err
	}
	if len(r.latency.d) > 0 {
		if r.connect, err = b.connectTime(b.sources[0], 20); err != nil {
			return r, err
		}
	}

	if what.floods {
		prog, err := xdpProgram(l.Gateway)
		if err != nil {
			return r, err
		}
		size := floodSize(scheme)
		for _, f := range []struct {
			name string
			args []string
		}{{xdpOneSource, nil}, {xdpSpoofed, []string{"-spoof", spoofPrefix}}} {
			x, err := b.xdpFlood(prog, size, f.args)
			if err != nil {
				prog.Close()
				return r, err
			}
			r.xdp[f.name] = x
		}
		prog.Close()
	}

	if what.underFlood && n > nLat {
		srcs := b.sources[nLat:min(len(b.sources), nLat+b.o.floodKnocks)]
		r.tried, r.openLat, err = b.knocksUnderFlood(srcs, scheme, knock)
		if err != nil {
			return r, err
		}
		r.opened = len(r.openLat)
	}

	if what.step {
		// One time step: CPU from a second before a window boundary to three after it.
		step := params.Step
		now := time.Now()
		boundary := time.Unix((now.Unix()/step+1)*step, 0)
		if boundary.Sub(now) < 1500*time.Millisecond {
			boundary = boundary.Add(time.Duration(step) * time.Second)
		}
		time.Sleep(time.Until(boundary.Add(-time.Second)))
		c0, err := schedTime(pid)
		if err != nil {
			return r, err
		}
		time.Sleep(time.Until(boundary.Add(3 * time.Second)))
		c1, err := schedTime(pid)
		if err != nil {
			return r, err
		}
		r.rotation = c1 - c0
	}
	if cur, peak, err := rss(pid); err == nil {
		r.endRSS, r.peakRSS = cur, peak
	}
	fmt.Printf("  scale    %7d %s keys: start %s, RSS %.1f MB (end %.1f MB, peak %.1f MB), BPF maps %.1f MB, step CPU %s, knock-to-open %s\n",
		n, scheme, r.startup.Round(time.Millisecond), mb(r.rss), mb(r.endRSS), mb(r.peakRSS), mb(r.bpf), r.rotation.Round(100*time.Microsecond), latString(r.latency))
	return r, nil
}

// floodSize is the payload of the flood's datagrams for keys of scheme: what its knocks carry.
func floodSize(scheme sequence.Scheme) int {
	if scheme == sequence.V3 {
		return sequence.TagSize
	}
	return 0
}

// knockKey knocks key's current sequence (counter 0) from src, its tags as payloads for v3.
func (b *bench) knockKey(src netip.Addr, k psk.Key, p sequence.Params) error {
	c, err := sequence.At(k, p, time.Now().Unix(), 0)
	if err != nil {
		return err
	}
	conn, err := b.lab.Client.ListenPacket("udp4", netip.AddrPortFrom(src, 0).String())
	if err != nil {
		return err
	}
	defer conn.Close()
	for i, port := range c.Ports {
		var payload []byte
		if c.Tags != nil {
			payload = binary.BigEndian.AppendUint64(nil, c.Tags[i])
		}
		if i > 0 {
			time.Sleep(200 * time.Microsecond) // keep them in order through the veth's queue
		}
		if _, err := conn.WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(b.lab.GatewayIP(), port))); err != nil {
			return fmt.Errorf("sending to port %d: %w", port, err)
		}
	}
	return nil
}

// connectTime is the median of n connects to the service from src, which holds a grant, made as
// knocksFrom makes them: the client's own share of every knock-to-open time.
func (b *bench) connectTime(src netip.Addr, n int) (time.Duration, error) {
	var d []time.Duration
	for range n {
		took, ok, err := b.dialer.opens(netip.AddrPortFrom(b.lab.GatewayIP(), servicePort), src, time.Second)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("no connect from %s, which holds a grant, within 1 s", src)
		}
		d = append(d, took)
	}
	slices.Sort(d)
	return d[len(d)/2], nil
}

// xdpFlood floods the gateway's random ports with b.o.flood datagrams of size bytes and returns
// the XDP program's time per packet over the flood, from the kernel's BPF run-time statistics.
func (b *bench) xdpFlood(prog *ebpf.Program, size int, extra []string) (xdpResult, error) {
	var x xdpResult
	st0, err := prog.Stats()
	if err != nil {
		return x, fmt.Errorf("reading XDP program stats: %w", err)
	}
	args := append([]string{"-to", b.lab.GatewayIP().String(), "-from", b.lab.AttackerIP().String(),
		"-n", fmt.Sprint(b.o.flood), "-size", fmt.Sprint(size)}, extra...)
	out, err := b.lab.Attacker.Output(b.bin("flood"), args...)
	if err != nil {
		return x, err
	}
	m := floodLine.FindStringSubmatch(string(out))
	if m == nil {
		return x, fmt.Errorf("flood printed %q", out)
	}
	fmt.Sscan(m[1], &x.sent)
	fmt.Sscan(m[3], &x.rate)
	time.Sleep(100 * time.Millisecond) // the last datagrams through the veth
	st1, err := prog.Stats()
	if err != nil {
		return x, fmt.Errorf("reading XDP program stats: %w", err)
	}
	x.runs = st1.RunCount - st0.RunCount
	if x.runs > 0 {
		x.ns = float64(st1.Runtime-st0.Runtime) / float64(x.runs)
	}
	return x, nil
}

// knocksUnderFlood starts a goalFloodLength-datagram spoofed flood of random ports and, while it
// lasts, knocks from each of srcs in turn, 100 ms apart; a knock counts as opened if a connect
// from its source succeeds within 1 s. It returns how many knocks were sent while the flood ran
// and the open times of those that opened.
func (b *bench) knocksUnderFlood(srcs []netip.Addr, scheme sequence.Scheme, send func(int, netip.Addr) error) (int, []time.Duration, error) {
	size := 0
	if scheme == sequence.V3 {
		size = sequence.TagSize
	}
	fl, err := b.lab.Attacker.Start(b.bin("flood"), "-to", b.lab.GatewayIP().String(), "-from", b.lab.AttackerIP().String(),
		"-n", fmt.Sprint(goalFloodLength), "-size", fmt.Sprint(size), "-spoof", spoofPrefix)
	if err != nil {
		return 0, nil, err
	}
	defer func() { _ = fl.Kill() }()
	time.Sleep(300 * time.Millisecond) // the flood at full rate before the first knock
	var opened []time.Duration
	tried := 0
	for _, src := range srcs {
		select {
		case <-fl.Done():
			return tried, opened, nil
		default:
		}
		lat, err := b.knocksFrom([]netip.Addr{src}, openWithin, send)
		if err != nil {
			return tried, opened, err
		}
		tried++
		opened = append(opened, lat.d...)
		time.Sleep(100 * time.Millisecond)
	}
	return tried, opened, nil
}

// knocksFrom knocks once from each of srcs, waiting at most timeout for each to open: from the
// moment send returns (the knock's last datagram sent), a connect from its source is tried
// every probeEvery (nsDialer.opens).
func (b *bench) knocksFrom(srcs []netip.Addr, timeout time.Duration, send func(i int, src netip.Addr) error) (latencies, error) {
	var res latencies
	to := netip.AddrPortFrom(b.lab.GatewayIP(), servicePort)
	for i, src := range srcs {
		if err := send(i, src); err != nil {
			return res, err
		}
		took, ok, err := b.dialer.opens(to, src, timeout)
		if err != nil {
			return res, err
		}
		if ok {
			res.d = append(res.d, took)
		} else {
			res.failed++
		}
	}
	return res, nil
}

// goalRow is one goal of issue #20: what hypd measured against the goal.
type goalRow struct {
	what, hypd, goal, verdict string
}

func (b *bench) goal(what, hypd, goal string, met, judged bool) {
	v := "report"
	switch {
	case !judged:
		v = "not judged (goal at 100,000 keys)"
	case met:
		v = "met"
	case goal != "":
		v = "missed"
	}
	if goal == "" {
		goal = "report the number"
	}
	b.goalRows = append(b.goalRows, goalRow{what, hypd, goal, v})
	fmt.Printf("  goal     %-70s hypd %s vs goal %s: %s\n", what, hypd, goal, v)
}

// judge turns the scale runs into the goal rows, hypd vs goal.
func (b *bench) judge() {
	for _, r := range b.scales {
		for _, f := range []string{xdpOneSource, xdpSpoofed} {
			x, ok := r.xdp[f]
			if !ok || x.runs == 0 {
				continue
			}
			b.goal(fmt.Sprintf("XDP per random-port flood packet, %s, %d %s keys", f, r.keys, r.scheme),
				fmt.Sprintf("%.1f ns (%d packets, %.0f/s sent)", x.ns, x.runs, x.rate), fmt.Sprintf("≤ %.0f ns", goalXDPNs), x.ns <= goalXDPNs, true)
		}
	}
	for _, size := range slices.Sorted(maps.Keys(b.floors)) {
		for _, name := range []string{floorDrop, floorParse} {
			for _, f := range []string{xdpOneSource, xdpSpoofed} {
				x := b.floors[size][name][f]
				b.goal(fmt.Sprintf("XDP floor of this machine: a program that %s, %s, %d-byte datagrams", name, f, size),
					fmt.Sprintf("%.1f ns (%d packets)", x.ns, x.runs), "", false, true)
			}
		}
	}
	for _, r := range b.scales {
		if r.tried == 0 {
			continue
		}
		frac := float64(r.opened) / float64(r.tried)
		v := fmt.Sprintf("%d of %d (%.0f%%)", r.opened, r.tried, 100*frac)
		if len(r.openLat) > 0 {
			slices.Sort(r.openLat)
			v += fmt.Sprintf(", median %s", ms(r.openLat[len(r.openLat)/2]))
		}
		b.goal(fmt.Sprintf("knocks opened within 1 s during a %d-datagram spoofed flood, %d %s keys", goalFloodLength, r.keys, r.scheme),
			v, fmt.Sprintf("≥ %.0f%%", 100*goalOpened), frac >= goalOpened, r.keys >= goalKeys)
	}
	for _, r := range b.scales {
		if r.scheme != sequence.V2 && r.keys != goalKeys {
			continue
		}
		judged := r.keys == goalKeys
		if r.keys == millionKeys {
			b.goal(fmt.Sprintf("start-up, %d keys", r.keys), fmt.Sprintf("%.2f s", r.startup.Seconds()), "", false, true)
			b.goal(fmt.Sprintf("RSS, %d keys", r.keys), fmt.Sprintf("%.1f MB (peak %.1f MB)", mb(r.endRSS), mb(r.peakRSS)), "", false, true)
			b.goal(fmt.Sprintf("knock-to-open, %d keys", r.keys), latString(r.latency), "", false, true)
			if r.rotation > 0 {
				b.goal(fmt.Sprintf("CPU per time step, %d keys", r.keys), fmt.Sprintf("%.1f ms", float64(r.rotation.Microseconds())/1000), "", false, true)
			}
			continue
		}
		if !judged {
			continue
		}
		tag := fmt.Sprintf("%d %s keys", r.keys, r.scheme)
		if r.rotation > 0 {
			b.goal("CPU per time step, "+tag, fmt.Sprintf("%.1f ms", float64(r.rotation.Microseconds())/1000),
				fmt.Sprintf("≤ %d ms", goalStepCPU.Milliseconds()), r.rotation <= goalStepCPU, judged)
		}
		b.goal("RSS, "+tag, fmt.Sprintf("%.1f MB after the start, %.1f MB at the end (peak %.1f MB)", mb(r.rss), mb(r.endRSS), mb(r.peakRSS)),
			fmt.Sprintf("≤ %d MB", goalRSS>>20), max(r.rss, r.endRSS) <= goalRSS, judged)
		b.goal("start-up, "+tag, fmt.Sprintf("%.2f s", r.startup.Seconds()), fmt.Sprintf("≤ %.0f s", goalStart.Seconds()), r.startup <= goalStart, judged)
		if len(r.latency.d) > 0 {
			d := slices.Sorted(slices.Values(r.latency.d))
			p50, p99 := d[len(d)/2], d[max(0, (len(d)*99+99)/100-1)]
			b.goal(fmt.Sprintf("knock-to-open p50 (%d knocks, state on disk), %s", len(d), tag),
				fmt.Sprintf("%s (of which a connect alone, from a granted source: %s)", ms(p50), ms(r.connect)), "≤ 0.20 ms", p50 <= goalP50, judged)
			b.goal(fmt.Sprintf("knock-to-open p99 (%d knocks), %s", len(d), tag), ms(p99), "≤ 5.00 ms", p99 <= goalP99 && r.latency.failed == 0, judged)
		}
	}
}
