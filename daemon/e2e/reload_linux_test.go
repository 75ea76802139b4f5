package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// SIGHUP (systemctl reload hypd) reads the whole configuration again: what can change live is
// applied, what cannot is named, and a configuration that does not load is refused whole while
// the running one stays.
func TestReloadAppliesOrRefusesTheWholeConfig(t *testing.T) {
	g := newGateway(t, 27)
	l := g.lab
	const other = 2224 // a service nothing protects: open, until stealth hides it
	ln, err := l.Gateway.Listen("tcp", fmt.Sprintf(":%d", other))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go netlab.ServeEcho(ln)
	reachable := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		c, err := l.Attacker.Dial(ctx, "tcp", netip.AddrPortFrom(l.GatewayIP(), other), l.AttackerIP())
		if err == nil {
			c.Close()
		}
		return err == nil
	}
	// answers retries reachable for a while: one lost SYN on a loaded machine is not a verdict
	// (the probes that expect silence stay single: a retry cannot make them pass wrongly).
	answers := func() bool { return waitfor.Until(3*time.Second, reachable) }

	uri := g.newKey("laptop", l.GatewayIP())
	conf := filepath.Join(g.dir, "hypd.toml")
	base := fmt.Sprintf("interfaces = [\"eth0\"]\nservices = [\"tcp/%d\"]\nkeys_dir = %q\nstate_dir = %q\nopen = \"30s\"\nmetrics = \"127.0.0.1:9108\"\n", servicePort, g.keys, g.state)
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(base)
	g.args = []string{"--config", conf, "--control", g.sock}
	hypd := g.restart()
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	if !answers() {
		t.Fatalf("tcp/%d should answer before stealth is on", other)
	}
	reload := func(want string) {
		t.Helper()
		seen := strings.Count(hypd.Output(), want)
		if err := hypd.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitfor.For(t, "hypd: "+want, 5*time.Second, func() bool { return strings.Count(hypd.Output(), want) > seen })
	}

	// Stealth on, and a new interface name (which needs a restart): applied and named.
	write(strings.Replace(base, `["eth0"]`, `["eth0", "eth9"]`, 1) + "stealth = true\n")
	reload("configuration reloaded")
	if reachable() {
		t.Errorf("tcp/%d still answers after a reload turned stealth on", other)
	}
	if !strings.Contains(hypd.Output(), "needs_restart=[interfaces]") {
		t.Errorf("the reload did not say that interfaces need a restart:\n%s", hypd.Output())
	}
	if st := g.status(); !st.Stealth || st.ConfigProblem != "" {
		t.Errorf("status after the reload: stealth %v, config problem %q", st.Stealth, st.ConfigProblem)
	}

	// A typo: refused whole; stealth and the protection stay.
	write(base + "stealth = true\nstelth = false\n")
	reload("configuration not reloaded")
	if reachable() {
		t.Errorf("a refused reload changed stealth")
	}
	if st := g.status(); !strings.Contains(st.ConfigProblem, `unknown key "stelth"`) {
		t.Errorf("status config problem %q; want the refused reload's reason", st.ConfigProblem)
	}
	out, _ := g.hypdCmd("status", "--socket", g.sock)
	if !strings.Contains(out, "the last reload was refused") {
		t.Errorf("hypd status does not show the refused reload:\n%s", out)
	}
	assertHidden(t, attacker, client)

	// Fixed: stealth off again, tcp/2224 answers; knocks work throughout.
	write(base)
	reload("configuration reloaded")
	if !answers() {
		t.Errorf("tcp/%d does not answer after a reload turned stealth off", other)
	}
	g.knock(l.Client, uri)
	waitOpen(t, client, time.Second)
	assertHidden(t, attacker)

	// The same numbers as Prometheus metrics, on the gateway's loopback.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// net/http dials on a goroutine of its own: dial inside the gateway namespace explicitly.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return l.Gateway.Dial(ctx, "tcp", netip.MustParseAddrPort(addr), netip.Addr{})
		},
	}}
	resp, err := hc.Get("http://127.0.0.1:9108/metrics")
	if err != nil {
		t.Fatalf("fetching metrics: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	metrics := string(b)
	for _, want := range []string{"hyp_grants_total 1\n", "hyp_keys_loaded 1\n", "hyp_config_reload_refused 0\n", `hyp_interface_attached{interface="eth0",mode="native"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}

	// Revoking an address that has no grant says so instead of claiming success.
	out, code := g.hypdCmd("revoke-grant", l.AttackerIP().String(), "--socket", g.sock)
	if code != 1 || !strings.Contains(out, "holds no grant") {
		t.Errorf("revoke-grant of an address without a grant: exit %d: %s", code, out)
	}
	out, code = g.hypdCmd("revoke-grant", l.ClientIP().String(), "--socket", g.sock)
	if code != 0 || !strings.Contains(out, "revoked 1 grant(s)") {
		t.Errorf("revoke-grant of the client: exit %d: %s", code, out)
	}
	assertHidden(t, client)
	assertDecisionsAddUp(t, g.status())
}
