package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// spoofPrefix is where the spoofed flood's source addresses come from: a benchmarking range
// (RFC 2544) that no client of the lab uses.
const spoofPrefix = "198.18.0.0/15"

// floodKinds are the floods knocks are sent under: flood arguments and a name.
var floodKinds = []struct {
	name string
	args []string
}{
	{"random ports, one source", nil},
	{"random ports, spoofed sources", []string{"-spoof", spoofPrefix}},
}

// openWithin is how long a knock under a flood may take to count as opened.
const openWithin = time.Second

// underFlood sends b.o.floodKnocks knocks while the attacker floods the gateway with knock-sized
// datagrams to random ports, for each of floodKinds, and counts those that open within 1 s.
// reset forgets the grants of the sources before each round, so each knock has to open anew.
func (b *bench) underFlood(daemon string, reset func() error, send func(i int, src netip.Addr) error) error {
	for _, fk := range floodKinds {
		if err := reset(); err != nil {
			return fmt.Errorf("forgetting grants before the flood: %w", err)
		}
		args := append([]string{"-to", b.lab.GatewayIP().String(), "-from", b.lab.AttackerIP().String(), "-for", "10m"}, fk.args...)
		fl, err := b.lab.Attacker.Start(b.bin("flood"), args...)
		if err != nil {
			return err
		}
		time.Sleep(300 * time.Millisecond) // the flood at full rate before the first knock
		lat, err := b.knocks(b.o.floodKnocks, openWithin, send)
		_ = fl.Kill()
		if err != nil {
			return err
		}
		v := fmt.Sprintf("%d of %d opened within 1 s", len(lat.d), b.o.floodKnocks)
		if len(lat.d) > 0 {
			slices.Sort(lat.d)
			v += fmt.Sprintf(" (median %s, p99 %s)", ms(lat.d[len(lat.d)/2]), ms(lat.d[max(0, (len(lat.d)*99+99)/100-1)]))
		}
		b.add(daemon, "knocks during a flood to "+fk.name, "%s", v)
		if b.opened == nil {
			b.opened = map[string]map[string]int{}
		}
		if b.opened[fk.name] == nil {
			b.opened[fk.name] = map[string]int{}
		}
		b.opened[fk.name][daemon] = len(lat.d)
	}
	return nil
}

// benchRealm is the realm of the bench's v3 keys.
const benchRealm = "bench"

// writeKeys writes n fresh keys of scheme into dir as hypd's key files, the way `hypd secret new`
// does but without a process per key: name.key holding the secret for v2, name.toml with the
// scheme and realm for v3.
func writeKeys(dir string, n int, scheme sequence.Scheme) ([]psk.Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	keys := make([]psk.Key, n)
	for i := range keys {
		k, err := psk.Generate()
		if err != nil {
			return nil, err
		}
		keys[i] = k
		name, data := fmt.Sprintf("k%07d.key", i), k.Encode()+"\n"
		if scheme == sequence.V3 {
			name = fmt.Sprintf("k%07d.toml", i)
			data = fmt.Sprintf("secret = %q\nscheme = %q\nrealm = %q\n", k.Encode(), sequence.V3, benchRealm)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// benchParams are the parameters of the bench's keys of scheme.
func benchParams(scheme sequence.Scheme) sequence.Params {
	p := sequence.DefaultsFor(scheme)
	if scheme == sequence.V3 {
		p.Realm = benchRealm
	}
	return p
}

var timingLine = regexp.MustCompile(`msg="grant timing".* spend_us=([0-9.]+) allow_us=([0-9.]+) mark_us=([0-9.]+)`)

// grantTiming adds hypd's own account of its grants (its debug line "grant timing"): from the
// record in hand to the use appended to the spent log, to the element in nftables, to the
// sequence marked spent in the kernel.
func (b *bench) grantTiming(out string) {
	var spend, allow, remove []float64
	for _, m := range timingLine.FindAllStringSubmatch(out, -1) {
		f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
		spend, allow, remove = append(spend, f(m[1])), append(allow, f(m[2])), append(remove, f(m[3]))
	}
	if len(spend) == 0 {
		b.notes = append(b.notes, "hypd logged no grant timing lines")
		return
	}
	for _, st := range []struct {
		what string
		v    []float64
	}{
		{"record read → use appended to the spent log (disk)", spend},
		{"→ element added to the nftables set (Allow)", allow},
		{"→ sequence marked spent in the kernel maps (after the port is open)", remove},
	} {
		slices.Sort(st.v)
		r := row{"hypd", "inside a grant: " + st.what, fmt.Sprintf("median %.0f µs, p99 %.0f µs", st.v[len(st.v)/2], st.v[max(0, (len(st.v)*99+99)/100-1)])}
		b.timing = append(b.timing, r)
		fmt.Printf("  %-8s %-58s %s\n", r.daemon, r.what, r.value)
	}
	// The median grant's share of the median knock-to-open: what hypd itself spends before the
	// port is open (spend and allow; the removal comes after). The element is in the set once the
	// kernel has committed Allow's batch, before hypd has read the kernel's answer and been
	// scheduled again; on a busy machine that wait can make Allow's time longer than the whole
	// knock-to-open, so the share is only stated where it is one.
	for _, m := range b.medians {
		if m.daemon != "hypd" {
			continue
		}
		own := (spend[len(spend)/2] + allow[len(allow)/2]) / 1000
		total := float64(m.med.Microseconds()) / 1000
		v := fmt.Sprintf("%.2f ms of %.2f ms (%.0f%%); the rest is the packets, XDP, the ring buffer's wake-up and the client's connect", own, total, 100*own/total)
		if own > total {
			v = fmt.Sprintf("%.2f ms, more than the median knock-to-open of %.2f ms: the port opened before Allow returned (the element is in the set once the kernel commits; Allow's time also holds the wait for hypd to run again)", own, total)
		}
		b.timing = append(b.timing, row{"hypd", "share of the median knock-to-open spent inside hypd before the port opens", v})
	}
}

// fileSystem names the file system holding dir and its source, as findmnt has them.
func fileSystem(dir string) (string, error) {
	out, err := exec.Command("findmnt", "-n", "-o", "FSTYPE,SOURCE,TARGET", "-T", dir).Output()
	if err != nil {
		return "", fmt.Errorf("findmnt -T %s: %w", dir, err)
	}
	f := strings.Fields(string(out))
	if len(f) < 3 {
		return "", fmt.Errorf("findmnt -T %s printed %q", dir, out)
	}
	return fmt.Sprintf("%s (%s mounted on %s)", f[0], f[1], f[2]), nil
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

func latString(l latencies) string {
	if len(l.d) == 0 {
		return fmt.Sprintf("none opened (%d failed)", l.failed)
	}
	slices.Sort(l.d)
	s := fmt.Sprintf("median %s, p99 %s", ms(l.d[len(l.d)/2]), ms(l.d[max(0, (len(l.d)*99+99)/100-1)]))
	if l.failed > 0 {
		s += fmt.Sprintf(", %d failed", l.failed)
	}
	return s
}

// lineWatch is hypd's output: it keeps no "key loaded" lines (100,000 of them would be the
// bench's own load) and notes when "hypd running" arrives.
type lineWatch struct {
	mu      sync.Mutex // guards buf, kept, running
	buf     []byte
	kept    bytes.Buffer
	running chan struct{}
	closed  bool
}

func (w *lineWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := w.buf[:i+1]
		if !bytes.Contains(line, []byte(`msg="key loaded"`)) {
			w.kept.Write(line)
		}
		if !w.closed && bytes.Contains(line, []byte(`msg="hypd running"`)) {
			close(w.running)
			w.closed = true
		}
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

func (w *lineWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.kept.String()
}

// rss reads VmRSS and VmHWM (the peak) of pid.
func rss(pid int) (cur, peak uint64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && (fs[0] == "VmRSS:" || fs[0] == "VmHWM:") {
			v, _ := strconv.ParseUint(fs[1], 10, 64)
			if fs[0] == "VmRSS:" {
				cur = v << 10
			} else {
				peak = v << 10
			}
		}
	}
	return cur, peak, sc.Err()
}

// bpfMapMemory sums the memlock of the BPF maps pid holds open, from /proc/PID/fdinfo.
func bpfMapMemory(pid int) (total uint64, maps int, err error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, 0, err
	}
	seen := map[string]bool{}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil || !bytes.Contains(data, []byte("map_type:")) {
			continue
		}
		var id, memlock string
		for _, line := range strings.Split(string(data), "\n") {
			if v, ok := strings.CutPrefix(line, "map_id:"); ok {
				id = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "memlock:"); ok {
				memlock = strings.TrimSpace(v)
			}
		}
		if seen[id] {
			continue
		}
		seen[id] = true
		v, _ := strconv.ParseUint(memlock, 10, 64)
		total += v
		maps++
	}
	return total, maps, nil
}

// schedTime is the CPU time of every thread of pid, in nanoseconds, from schedstat: finer than
// the 10 ms ticks of /proc/PID/stat.
func schedTime(pid int) (time.Duration, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var total time.Duration
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(data))
		if len(f) == 0 {
			continue
		}
		v, _ := strconv.ParseUint(f[0], 10, 64)
		total += time.Duration(v)
	}
	return total, nil
}
