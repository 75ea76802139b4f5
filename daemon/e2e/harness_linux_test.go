package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// nsPrefix starts every namespace name these tests make; the pid follows, so that a later run
// can tell a dead run's leftovers from a live one's.
const nsPrefix = "hype2e-"

// servicePort is the protected TCP service every gateway runs.
const servicePort = 2222

// hiddenWait is how long a connect must go unanswered to count as hidden: the lab is one bridge,
// so a SYN-ACK that comes at all comes in well under a millisecond.
const hiddenWait = time.Second

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run() // every test here fails or skips on needs.Root
	}
	if err := netlab.RemoveStale(nsPrefix); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: removing stale namespaces:", err)
	}
	// hypd with the race detector: every test here fails on a data race in hypd (checkRace).
	return testbin.MainRace(m, "hyp", "hypd")
}

// bin returns the path of hyp or hypd.
func bin(name string) string { return filepath.Join(os.Getenv(testbin.Env), name) }

func needRoot(t *testing.T) {
	t.Helper()
	needs.Root(t, "network namespaces, XDP and nftables")
}

// gateway is one lab with a TCP echo service on the gateway and a place for hypd's files.
type gateway struct {
	t     *testing.T
	lab   *netlab.Lab
	dir   string
	keys  string
	state string
	sock  string
	args  []string // hypd run flags, kept for a restart

	mu   sync.Mutex // guards hypd
	hypd *netlab.Process
}

// newGateway makes a lab with subnet n and starts the echo service. hypd is not started yet.
func newGateway(t *testing.T, n int) *gateway {
	t.Helper()
	needRoot(t)
	l := netlab.TempLab(t, fmt.Sprintf("%s%d-%d", nsPrefix, os.Getpid(), n), n)
	dir := t.TempDir()
	g := &gateway{t: t, lab: l, dir: dir, keys: filepath.Join(dir, "keys"), state: filepath.Join(dir, "state"), sock: filepath.Join(dir, "hypd.sock")}
	if err := os.Mkdir(g.keys, 0o700); err != nil {
		t.Fatal(err)
	}
	l.Gateway.TempEcho(t, servicePort)
	// Registered after the lab's cleanup, so it runs before it: stop hypd, then drop the namespaces.
	t.Cleanup(func() {
		g.mu.Lock()
		p := g.hypd
		g.mu.Unlock()
		if p == nil {
			return
		}
		if err := p.Kill(); err != nil {
			t.Error(err)
		}
		checkRace(t, p.Output())
		if t.Failed() {
			t.Logf("hypd output:\n%s", p.Output())
		}
	})
	return g
}

// runRecord is the directory of the test's hypd record of directories (hypd run --run-record),
// made on first use: hypd writes a record only into a directory that exists.
func (g *gateway) runRecord() string {
	dir := filepath.Join(g.dir, "record")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		g.t.Fatal(err)
	}
	return dir
}

// start runs hypd on the gateway with the lab's interface, keys, state and control socket, plus
// extra flags; it waits until hypd is running.
func (g *gateway) start(extra ...string) *netlab.Process {
	g.t.Helper()
	g.args = append([]string{"--interface", netlab.Iface, "--keys", g.keys, "--state", g.state, "--control", g.sock}, extra...)
	return g.restart()
}

// restart starts hypd again with the last flags (after a kill or stop). A run with a config file
// keeps its record of directories (config.RecordRun) in the test's own directory, not the
// machine's /var/lib/hyp.
func (g *gateway) restart() *netlab.Process {
	g.t.Helper()
	if slices.Contains(g.args, "--config") && !slices.Contains(g.args, "--run-record") {
		g.args = append(g.args, "--run-record", g.runRecord())
	}
	p, err := g.lab.Gateway.StartHypd(bin("hypd"), g.args...)
	if err != nil {
		g.t.Fatal(err)
	}
	g.mu.Lock()
	old := g.hypd
	g.hypd = p
	g.mu.Unlock()
	if old != nil {
		if err := old.Kill(); err != nil {
			g.t.Error(err)
		}
		g.t.Logf("output of the previous hypd:\n%s", old.Output())
		checkRace(g.t, old.Output())
	}
	return p
}

// checkRace fails t when a hypd's output holds a data race report.
func checkRace(t *testing.T, output string) {
	t.Helper()
	if r := testbin.RaceReport(output); r != "" {
		t.Errorf("hypd DATA RACE:\n%s", r)
	}
}

// newKey makes a key with hypd secret new and returns its profile URI for host. The key is v2:
// these tests send its ports with send, which puts no v3 tags in the datagrams, and assert v2's
// rules (a stray datagram resets progress); fleet_linux_test.go is where v3 is tested.
func (g *gateway) newKey(name string, host netip.Addr) string {
	g.t.Helper()
	out, err := exec.Command(bin("hypd"), "secret", "new", name, "--keys", g.keys, "--host", host.String(), "--scheme", "v2", "--no-check").Output()
	if err != nil {
		g.t.Fatalf("hypd secret new %s: %v", name, describe(err))
	}
	uri := strings.TrimSpace(string(out))
	if !strings.HasPrefix(uri, "hyp://") {
		g.t.Fatalf("hypd secret new %s printed %q, want a hyp:// URI", name, uri)
	}
	return uri
}

// status asks the running hypd over its control socket.
func (g *gateway) status() control.Status {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := control.NewClient(g.sock).Status(ctx)
	if err != nil {
		g.t.Fatalf("hypd status: %v", err)
	}
	return st
}

// settle waits until the detector has judged n more datagrams than before and hypd has decided
// on every sequence completed so far, and returns that status. Only then does "still hidden"
// mean that hypd said no, rather than that it had not got to it yet.
func (g *gateway) settle(before control.Status, n int) control.Status {
	g.t.Helper()
	var st control.Status
	waitfor.For(g.t, fmt.Sprintf("hypd judging %d datagrams and deciding every completion", n), 5*time.Second, func() bool {
		st = g.status()
		d := st.Detector
		return d.Seen >= before.Detector.Seen+uint64(n) && d.Completions == st.Server.HandledRecords+d.StaleRecords+d.RingbufDrops
	})
	return st
}

// nftSet lists one of hypd's sets in the gateway namespace, protocols as numbers (nft -p: "6 . 22"
// for tcp/22 whether or not /etc/protocols exists).
func (g *gateway) nftSet(name string) string {
	g.t.Helper()
	out, err := g.lab.Gateway.Output("nft", "-p", "list", "set", "inet", "hyp", name)
	if err != nil {
		g.t.Fatal(err)
	}
	return string(out)
}

// knocked is what `hyp knock -v` reports.
type knocked struct {
	window uint64
	ports  []uint16
}

var knockedRE = regexp.MustCompile(`window (\d+) ports \[([0-9 ]+)\]`)

// knock runs `hyp knock -v ARGS...` in ns and returns the window and ports it sent.
func (g *gateway) knock(ns *netlab.NS, args ...string) knocked {
	g.t.Helper()
	c := ns.Command(context.Background(), bin("hyp"), append([]string{"knock", "-v"}, args...)...)
	out, err := c.CombinedOutput()
	if err != nil {
		g.t.Fatalf("hyp knock %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	m := knockedRE.FindStringSubmatch(string(out))
	if m == nil {
		g.t.Fatalf("hyp knock -v did not report its ports:\n%s", out)
	}
	var k knocked
	k.window, _ = strconv.ParseUint(m[1], 10, 64)
	for _, f := range strings.Fields(m[2]) {
		p, _ := strconv.ParseUint(f, 10, 16)
		k.ports = append(k.ports, uint16(p))
	}
	return k
}

// send sends one datagram with payload to each port of to, in order, from one socket in ns bound
// to local (any address if invalid), as a knock client would.
func send(t *testing.T, ns *netlab.NS, local, to netip.Addr, payload []byte, ports ...uint16) {
	t.Helper()
	network, bind := "udp4", "0.0.0.0:0"
	if to.Is6() {
		network, bind = "udp6", "[::]:0"
	}
	if local.IsValid() {
		bind = netip.AddrPortFrom(local, 0).String()
	}
	c, err := ns.ListenPacket(network, bind)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, p := range ports {
		if _, err := c.WriteTo(payload, net.UDPAddrFromAddrPort(netip.AddrPortFrom(to, p))); err != nil {
			t.Fatalf("sending to %v port %d: %v", to, p, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// probe is one connect attempt from a namespace, optionally from a chosen source address.
type probe struct {
	what  string
	ns    *netlab.NS
	local netip.Addr
	to    netip.Addr
}

// dial tries one TCP connect to the service with a deadline.
func (p probe) dial(timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return p.ns.Dial(ctx, "tcp", netip.AddrPortFrom(p.to, servicePort), p.local)
}

// assertHidden checks, all probes at once, that no connect gets through: each is refused with an
// RST, as an unused port is (hypd's default), or goes unanswered (stealth). That the two answers
// match the unused ports' is probe_default_linux_test.go's and probe_linux_test.go's business.
func assertHidden(t *testing.T, probes ...probe) {
	t.Helper()
	errs := make([]error, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() {
			c, err := p.dial(hiddenWait)
			if err == nil {
				c.Close()
				errs[i] = fmt.Errorf("%s: connected to tcp/%d; want it hidden", p.what, servicePort)
				return
			}
			var ne net.Error
			if !errors.Is(err, syscall.ECONNREFUSED) && (!errors.As(err, &ne) || !ne.Timeout()) {
				errs[i] = fmt.Errorf("%s: %v; want a refusal or a timeout (the SYN rejected or dropped)", p.what, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// waitOpen polls connects until one succeeds or within passes, and returns how long it took.
// Each try waits 10 ms for the SYN-ACK: a SYN that arrived just before the grant is dropped and
// the kernel would retransmit it only after a second, so a new try is quicker.
func waitOpen(t *testing.T, p probe, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		c, err := p.dial(10 * time.Millisecond)
		if err == nil {
			c.Close()
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s: tcp/%d did not open within %v: %v", p.what, servicePort, within, err)
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			time.Sleep(time.Millisecond) // refused at once: do not spin
		}
	}
}

// waitLog waits until hypd's output holds s.
func waitLog(t *testing.T, p *netlab.Process, s string, timeout time.Duration) {
	t.Helper()
	if err := p.WaitOutput(s, timeout); err != nil {
		t.Fatal(err)
	}
}

// parseURI reads a profile URI the tests made.
func parseURI(t *testing.T, uri string) profile.Profile {
	t.Helper()
	p, _, err := profile.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// payload is what a client of the profile's scheme sends.
func payload(p profile.Profile) []byte { return knock.PayloadFor(p.Params.Scheme) }

// describe adds a failed command's stderr to its error.
func describe(err error) error {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return fmt.Errorf("%w: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}
