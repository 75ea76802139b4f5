package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// ipBatchIn runs ip commands in a lab namespace.
func ipBatchIn(t *testing.T, ns *netlab.NS, cmds ...string) {
	t.Helper()
	if err := ns.IPBatch(cmds...); err != nil {
		t.Fatal(err)
	}
}

// dropUplink deletes the gateway's lab interface, as a PPPoE disconnect or an
// unplugged USB modem does; its peer on the switch goes with it. It returns
// the interface's MAC address, so that the re-created one can carry it (as a
// rebuilt VLAN or the same modem would) and the other hosts' neighbour caches
// stay right.
func dropUplink(t *testing.T, l *netlab.Lab) string {
	t.Helper()
	mac, err := l.Gateway.MAC()
	if err != nil {
		t.Fatal(err)
	}
	ipBatchIn(t, l.Gateway, "link del "+netlab.Iface)
	return mac
}

// restoreUplink re-creates the gateway's lab interface and its switch port,
// with the old MAC and addresses.
func restoreUplink(t *testing.T, l *netlab.Lab, mac string) {
	t.Helper()
	ipBatchIn(t, l.Switch,
		fmt.Sprintf("link add gw type veth peer name %s netns %s", netlab.Iface, l.Gateway.Name),
		"link set gw master br0",
		"link set gw up",
	)
	ipBatchIn(t, l.Gateway,
		fmt.Sprintf("link set %s address %s", netlab.Iface, mac),
		fmt.Sprintf("link set %s up", netlab.Iface),
		fmt.Sprintf("addr add %s/24 dev %s", l.GatewayIP(), netlab.Iface),
		fmt.Sprintf("addr add %s/64 dev %s nodad", l.GatewayIP6(), netlab.Iface),
	)
}

// TestUplinkRecreated: with hypd running, the uplink is deleted and re-created (a PPPoE
// reconnect). hypd notices both, attaches the knock detector to the new interface, reports the
// real state, and a knock opens the service within a couple of seconds; the attacker stays out.
func TestUplinkRecreated(t *testing.T) {
	g := newGateway(t, 40)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	if got := g.status().Interfaces[netlab.Iface]; got != "native" {
		t.Fatalf("status at start: %s %q, want native", netlab.Iface, got)
	}

	mac := dropUplink(t, l)
	waitIface(t, g, "missing", 2*time.Second)

	start := time.Now()
	restoreUplink(t, l, mac)
	waitIface(t, g, "native", 2*time.Second)
	t.Logf("hypd re-attached within %v of the re-creation starting", time.Since(start))

	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	assertHidden(t, client, attacker)
	g.knock(l.Client, uri)
	took := waitOpen(t, client, 2*time.Second)
	t.Logf("tcp/%d answered %v after hyp knock returned, through the re-created interface", servicePort, took)
	assertHidden(t, attacker)
	st := waitGrants(t, g, 1)
	assertNoGrantIn(t, st, l.AttackerIP())
}

// TestInterfaceAppearsAfterStart: hypd is started for an interface that does not exist yet. It
// runs, its table hides the service, and once the interface appears a knock through it works.
func TestInterfaceAppearsAfterStart(t *testing.T) {
	g := newGateway(t, 41)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	mac := dropUplink(t, l)
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	if got := g.status().Interfaces[netlab.Iface]; got != "missing" {
		t.Errorf("status with no %s: %q, want missing", netlab.Iface, got)
	}
	// The table is there before the interface: nothing reaches the service unasked.
	if out, err := l.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil || !strings.Contains(string(out), fmt.Sprint(servicePort)) {
		t.Fatalf("hypd's table with no %s: %v\n%s", netlab.Iface, err, out)
	}

	restoreUplink(t, l, mac)
	waitIface(t, g, "native", 2*time.Second)
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	attacker6 := probe{"attacker over IPv6", l.Attacker, l.AttackerIP6(), l.GatewayIP6()}
	assertHidden(t, client, attacker, attacker6)
	g.knock(l.Client, uri)
	took := waitOpen(t, client, 2*time.Second)
	t.Logf("tcp/%d answered %v after hyp knock returned", servicePort, took)
	assertHidden(t, attacker, attacker6)
	st := waitGrants(t, g, 1)
	assertNoGrantIn(t, st, l.AttackerIP(), l.AttackerIP6())
}

// waitIface waits until status reports the lab interface in state (native, missing, ...).
func waitIface(t *testing.T, g *gateway, state string, within time.Duration) {
	t.Helper()
	var got string
	if !waitfor.Until(within, func() bool {
		got = g.status().Interfaces[netlab.Iface]
		return got == state
	}) {
		t.Fatalf("status shows %s %q after %v, want %q", netlab.Iface, got, within, state)
	}
}
