package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
)

const (
	servicePort = 2222
	subnet      = 9
	// firstSource is the host number of the first of the client's extra addresses, one per knock.
	firstSource = 10
)

// bench is one run: the lab, the client's source addresses and what was measured.
type bench struct {
	o       options
	lab     *netlab.Lab
	dir     string
	sources []netip.Addr
	rows    []row
	notes   []string
	// For the ratios.
	medians []named
	cpu     map[floodKind]map[string]time.Duration
	// opened counts, per flood under which knocks were sent, per daemon, the knocks that opened.
	opened map[string]map[string]int
	// fs names the file system of dir, where hypd keeps its state.
	fs string
	// timing is hypd's own account of its grants: spend, allow, remove.
	timing []row
	scales []scaleRow
	// dialer connects from the client's namespace.
	dialer *nsDialer
	// goalRows are issue #20's goals, hypd vs goal.
	goalRows []goalRow
	load     string // load average when the run began
	// floors are the XDP floors (xdpFloors) by datagram size, floor and flood.
	floors map[int]map[string]map[string]xdpResult
}

// row is one line of the result table.
type row struct {
	daemon string
	what   string
	value  string
}

func (b *bench) add(daemon, what, format string, a ...any) {
	r := row{daemon, what, fmt.Sprintf(format, a...)}
	b.rows = append(b.rows, r)
	fmt.Printf("  %-8s %-58s %s\n", r.daemon, r.what, r.value)
}

func run(o options) (err error) {
	if os.Geteuid() != 0 {
		return errors.New("run as root: network namespaces, XDP and nftables")
	}
	if o.knocks < 1 || o.knocks > 240 {
		return fmt.Errorf("-knocks %d: must be 1..240 (one source address each in a /24)", o.knocks)
	}
	if o.floodKnocks < 1 || o.floodKnocks > o.knocks {
		return fmt.Errorf("-flood-knocks %d: must be 1..-knocks (%d): they reuse its source addresses", o.floodKnocks, o.knocks)
	}
	for _, name := range []string{"hyp", "hypd", "flood"} {
		if _, err := os.Stat(filepath.Join(o.bin, name)); err != nil {
			return fmt.Errorf("-bin %s: %w (make build; go build -o %s/flood ./daemon/tools/flood)", o.bin, err, o.bin)
		}
	}
	if o.bin, err = filepath.Abs(o.bin); err != nil {
		return err
	}
	// The kernel counts BPF run time only while someone holds stats enabled.
	stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		return fmt.Errorf("enabling BPF run-time statistics: %w", err)
	}
	defer stats.Close()

	name := fmt.Sprintf("hypbench-%d", os.Getpid())
	if err := netlab.RemoveStale("hypbench-"); err != nil {
		return err
	}
	l, err := netlab.New(name, subnet)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, l.Close()) }()
	// The state directory, hypd's spent log with it, lives where hypd's does in production: on a
	// disk, not a tmpfs, so a grant's append is a real file system's.
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("-dir: %w", err)
	}
	dir, err := os.MkdirTemp(o.dir, "run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{o: o, lab: l, dir: dir, load: loadAvg()}
	if b.dialer, err = newNSDialer(l.Client.Name); err != nil {
		return err
	}
	defer b.dialer.Close()
	if b.fs, err = fileSystem(dir); err != nil {
		return err
	}
	if strings.HasPrefix(b.fs, "tmpfs") || strings.HasPrefix(b.fs, "ramfs") {
		return fmt.Errorf("-dir %s is on %s: give a directory on a disk", o.dir, b.fs)
	}
	if err := b.setup(); err != nil {
		return err
	}
	ln, err := l.Gateway.Listen("tcp", fmt.Sprintf(":%d", servicePort))
	if err != nil {
		return err
	}
	defer ln.Close()
	go netlab.ServeEcho(ln)

	fmt.Printf("hyp gateway bench: %d knocks per latency row, %d datagrams per flood\n", o.knocks, o.flood)
	fmt.Printf("state directory %s on %s\n", dir, b.fs)
	// The goals run before knockd and fwknopd: without XDP their floods reach the stack, and
	// every spoofed datagram leaves a conntrack entry; a table full of them slows the XDP
	// program's conntrack lookup for the next half minute (a run measured 1,150 ns per packet at
	// 10 keys after them, 245 ns before).
	for _, phase := range []struct {
		name string
		run  func() error
	}{{"hypd", b.hyp}, {"goals", b.goals}, {"knockd", b.knockd}, {"fwknopd", b.fwknopd}} {
		if !o.phase(phase.name) {
			continue
		}
		if err := phase.run(); err != nil {
			return fmt.Errorf("%s: %w", phase.name, err)
		}
	}
	b.ratios()
	if o.out != "" {
		return b.write(o.out)
	}
	return nil
}

// setup gives the client one extra address per knock and pins the gateway's neighbour entries for
// them, so that no knock's first connect waits for ARP: every daemon pays the same, nothing.
func (b *bench) setup() error {
	l := b.lab
	mac, err := l.Client.MAC()
	if err != nil {
		return err
	}
	var addCmds, neighCmds []string
	for i := range b.o.knocks {
		a := netip.AddrFrom4([4]byte{10, 77, subnet, byte(firstSource + i)})
		b.sources = append(b.sources, a)
		addCmds = append(addCmds, fmt.Sprintf("addr add %s/24 dev %s", a, netlab.Iface))
		neighCmds = append(neighCmds, fmt.Sprintf("neigh replace %s lladdr %s dev %s nud permanent", a, mac, netlab.Iface))
	}
	if err := l.Client.IPBatch(addCmds...); err != nil {
		return err
	}
	return l.Gateway.IPBatch(neighCmds...)
}

// hyp measures hypd: latency with one fresh key per knock, CPU and XDP time under the floods.
func (b *bench) hyp() error {
	l := b.lab
	keys := filepath.Join(b.dir, "hyp-keys")
	// One fresh key per knock: for the latency, and for each flood the knocks are sent under.
	secrets, err := writeKeys(keys, b.o.knocks+len(floodKinds)*b.o.floodKnocks, sequence.V2)
	if err != nil {
		return err
	}
	profiles := make([]profile.Profile, len(secrets))
	for i, k := range secrets {
		profiles[i] = profile.Profile{Key: k, Params: sequence.Defaults()}
	}
	hypd, err := l.Gateway.StartHypd(b.bin("hypd"), "--interface", netlab.Iface, "--keys", keys, "--services", fmt.Sprintf("tcp/%d", servicePort),
		"--open", "5m", "--state", filepath.Join(b.dir, "hyp-state"), "--control", filepath.Join(b.dir, "hypd.sock"),
		"--log-level", "debug")
	if err != nil {
		return err
	}
	defer func() {
		_ = hypd.Kill()
		_, _ = l.Gateway.Output(b.bin("hypd"), "cleanup")
	}()
	fmt.Printf("hypd: pid %d, %d keys\n", hypd.PID(), len(profiles))

	lat, err := b.latency(func(i int, src netip.Addr) error {
		p := profiles[i]
		ports, err := sequence.PortsAt(p.Key, p.Params, time.Now().Unix(), 0)
		if err != nil {
			return err
		}
		return b.sendFrom(src, l.GatewayIP(), knock.PayloadFor(p.Params.Scheme), ports)
	})
	if err != nil {
		return err
	}
	b.addLatency("hypd", lat)
	b.grantTiming(hypd.Output())

	next := b.o.knocks
	if err := b.underFlood("hypd", func() error {
		_, err := l.Gateway.Output("nft", "flush", "set", "inet", "hyp", "allow4")
		return err
	}, func(i int, src netip.Addr) error {
		p := profiles[next]
		next++
		ports, err := sequence.PortsAt(p.Key, p.Params, time.Now().Unix(), 0)
		if err != nil {
			return err
		}
		return b.sendFrom(src, l.GatewayIP(), knock.PayloadFor(p.Params.Scheme), ports)
	}); err != nil {
		return err
	}

	prog, err := xdpProgram(l.Gateway)
	if err != nil {
		return err
	}
	defer prog.Close()
	first, err := sequence.PortsAt(profiles[0].Key, profiles[0].Params, time.Now().Unix(), 0)
	if err != nil {
		return err
	}
	for _, f := range []struct {
		kind  floodKind
		name  string
		ports []uint16
	}{{floodRandom, "random ports", nil}, {floodAimed, fmt.Sprintf("a knock's first port (%d)", first[0]), first[:1]}} {
		st0, err := prog.Stats()
		if err != nil {
			return fmt.Errorf("reading XDP program stats: %w", err)
		}
		fr, err := b.floodCPU(hypd, f.ports)
		if err != nil {
			return err
		}
		st1, err := prog.Stats()
		if err != nil {
			return fmt.Errorf("reading XDP program stats: %w", err)
		}
		runs := st1.RunCount - st0.RunCount
		b.add("hypd", "flood to "+f.name+": sent", "%d datagrams, %.0f/s", fr.sent, fr.rate)
		b.add("hypd", "flood to "+f.name+": hypd CPU", "%.3f s", fr.cpu.Seconds())
		if runs > 0 {
			b.add("hypd", "flood to "+f.name+": XDP per packet (BPF run-time stats)", "%.1f ns over %d packets", float64(st1.Runtime-st0.Runtime)/float64(runs), runs)
		}
		b.recordCPU(f.kind, "hypd", fr.cpu)
	}
	if lines, want := strings.Count(hypd.Output(), "access granted"), b.o.knocks+len(floodKinds)*b.o.floodKnocks; lines != want {
		b.notes = append(b.notes, fmt.Sprintf("hypd logged %d grants for %d knocks (latency and under the floods)", lines, want))
	}
	return nil
}

func (b *bench) bin(name string) string { return filepath.Join(b.o.bin, name) }

// sendFrom sends one datagram per port, in order, from a socket bound to src in the client's
// namespace, the way a knock client does (without the gap, which only delays the first ports).
func (b *bench) sendFrom(src, dst netip.Addr, payload []byte, ports []uint16) error {
	c, err := b.lab.Client.ListenPacket("udp4", netip.AddrPortFrom(src, 0).String())
	if err != nil {
		return err
	}
	defer c.Close()
	for i, p := range ports {
		if i > 0 {
			time.Sleep(200 * time.Microsecond) // keep them in order through the veth's queue
		}
		if _, err := c.WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst, p))); err != nil {
			return fmt.Errorf("sending to port %d: %w", p, err)
		}
	}
	return nil
}

// latencies are the measured knock-to-open times and the knocks that never opened.
type latencies struct {
	d      []time.Duration
	failed int
}

// latency runs knocks knocks: send(i, src) knocks from source i; then a connect from that source
// is tried every millisecond until one succeeds (or 3 s pass).
func (b *bench) latency(send func(i int, src netip.Addr) error) (latencies, error) {
	return b.knocks(len(b.sources), 3*time.Second, send)
}

// knocks runs n knocks from the first n sources, waiting at most timeout for each to open.
func (b *bench) knocks(n int, timeout time.Duration, send func(i int, src netip.Addr) error) (latencies, error) {
	return b.knocksFrom(b.sources[:n], timeout, send)
}

func (b *bench) addLatency(daemon string, l latencies) {
	if len(l.d) == 0 {
		b.add(daemon, fmt.Sprintf("knock-to-open latency (%d knocks)", b.o.knocks), "none opened (%d failed)", l.failed)
		return
	}
	slices.Sort(l.d)
	med := l.d[len(l.d)/2]
	p99 := l.d[max(0, (len(l.d)*99+99)/100-1)]
	v := fmt.Sprintf("median %s, p99 %s (min %s, max %s)", ms(med), ms(p99), ms(l.d[0]), ms(l.d[len(l.d)-1]))
	if l.failed > 0 {
		v += fmt.Sprintf(", %d of %d never opened", l.failed, b.o.knocks)
	}
	b.add(daemon, fmt.Sprintf("knock-to-open latency (%d knocks)", b.o.knocks), "%s", v)
	b.medians = append(b.medians, named{daemon, med, p99})
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

// floodResult is one flood as the daemon saw it.
type floodResult struct {
	sent int
	rate float64
	cpu  time.Duration
}

var floodLine = regexp.MustCompile(`sent (\d+) datagrams in ([0-9.]+) s: ([0-9.]+) datagrams/s`)

// floodCPU floods the gateway from the attacker with knock-sized datagrams (to random ports, or
// to ports in turn) and returns the daemon's CPU time over the flood and a second of draining.
func (b *bench) floodCPU(daemon *netlab.Process, ports []uint16) (floodResult, error) {
	var fr floodResult
	cpu0, err := daemon.CPU()
	if err != nil {
		return fr, err
	}
	args := []string{"-to", b.lab.GatewayIP().String(), "-from", b.lab.AttackerIP().String(), "-n", fmt.Sprint(b.o.flood)}
	if len(ports) > 0 {
		ps := make([]string, len(ports))
		for i, p := range ports {
			ps[i] = fmt.Sprint(p)
		}
		args = append(args, "-ports", strings.Join(ps, ","))
	}
	out, err := b.lab.Attacker.Output(b.bin("flood"), args...)
	if err != nil {
		return fr, err
	}
	m := floodLine.FindStringSubmatch(string(out))
	if m == nil {
		return fr, fmt.Errorf("flood printed %q", out)
	}
	fmt.Sscan(m[1], &fr.sent)
	fmt.Sscan(m[3], &fr.rate)
	time.Sleep(time.Second)
	cpu1, err := daemon.CPU()
	if err != nil {
		return fr, err
	}
	fr.cpu = cpu1 - cpu0
	return fr, nil
}

// xdpProgram opens the XDP program attached to the gateway's lab interface.
func xdpProgram(gw *netlab.NS) (*ebpf.Program, error) {
	out, err := gw.Output("ip", "-j", "-d", "link", "show", netlab.Iface)
	if err != nil {
		return nil, err
	}
	var links []struct {
		XDP struct {
			Prog struct {
				ID uint32 `json:"id"`
			} `json:"prog"`
		} `json:"xdp"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("reading ip -j link output: %w", err)
	}
	if len(links) != 1 || links[0].XDP.Prog.ID == 0 {
		return nil, fmt.Errorf("no XDP program on %s in %s: %s", netlab.Iface, gw.Name, out)
	}
	p, err := ebpf.NewProgramFromID(ebpf.ProgramID(links[0].XDP.Prog.ID))
	if err != nil {
		return nil, fmt.Errorf("opening XDP program %d: %w", links[0].XDP.Prog.ID, err)
	}
	return p, nil
}
