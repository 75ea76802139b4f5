package firewall

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

func needRoot(t testing.TB) {
	t.Helper()
	needs.Root(t, "creates network namespaces and nftables tables")
}

// testNS is a throwaway network namespace of the lab, with an fd for Config.NetNS.
type testNS struct {
	*netlab.NS
	fd int
}

// newNS creates a namespace named hypfw-<pid>-<random>, with its lo up, removed when the test
// ends, whatever the outcome.
func newNS(t testing.TB) *testNS {
	t.Helper()
	needRoot(t)
	return inLab(t, netlab.Temp(t, uniqueName()))
}

// uniqueName is a namespace (or lab) name unique among running tests: hypfw-<pid>-<random>.
func uniqueName() string { return fmt.Sprintf("hypfw-%d-%08x", os.Getpid(), rand.Uint32()) }

// inLab wraps a namespace of the lab with its descriptor, closed when the test ends.
func inLab(t testing.TB, ns *netlab.NS) *testNS {
	t.Helper()
	return &testNS{NS: ns, fd: ns.TempFD(t)}
}

// run runs a command inside the namespace.
func (ns *testNS) run(t testing.TB, args ...string) string {
	t.Helper()
	return ns.Run(t, args[0], args[1:]...)
}

// do calls fn on an OS thread switched into the namespace. Sockets created
// in fn belong to the namespace for their whole life, so a listener or a
// connection made here can be used from any goroutine afterwards.
func (ns *testNS) do(fn func() error) error { return ns.Do(fn) }

// waitLinkUp waits until dev in ns is up with its queue attached. `ip link set up` returns before
// the kernel's link watcher (rate-limited to a run a second, busy while other tests make and
// delete namespaces) replaces the interface's noop qdisc, which drops every packet; a first probe
// sent before that times out although nothing filters it.
func (ns *testNS) waitLinkUp(t testing.TB, dev string) {
	t.Helper()
	var out string
	if !waitfor.Until(5*time.Second, func() bool {
		out = ns.run(t, "ip", "-o", "link", "show", "dev", dev)
		return strings.Contains(out, "LOWER_UP") && !strings.Contains(out, "qdisc noop")
	}) {
		t.Fatalf("%s in %s not up with a queue after 5 s: %s", dev, ns.Name, out)
	}
}
