package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// metricsAddr is where the gateways of these tests serve Prometheus metrics, on their loopback.
const metricsAddr = "127.0.0.1:9108"

// startWithMetrics starts hypd from a config file that serves metrics on metricsAddr.
func (g *gateway) startWithMetrics() {
	g.t.Helper()
	conf := filepath.Join(g.dir, "hypd.toml")
	toml := fmt.Sprintf("interfaces = [%q]\nservices = [\"tcp/%d\"]\nkeys_dir = %q\nstate_dir = %q\nopen = \"30s\"\nmetrics = %q\n",
		netlab.Iface, servicePort, g.keys, g.state, metricsAddr)
	if err := os.WriteFile(conf, []byte(toml), 0o600); err != nil {
		g.t.Fatal(err)
	}
	g.args = []string{"--config", conf, "--control", g.sock}
	g.restart()
}

// metrics fetches the gateway's /metrics and returns every sample by its name and labels.
func (g *gateway) metrics() map[string]float64 {
	g.t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		// net/http dials on a goroutine of its own: dial inside the gateway namespace explicitly.
		DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return g.lab.Gateway.Dial(ctx, "tcp", netip.MustParseAddrPort(addr), netip.Addr{})
		},
	}}
	resp, err := hc.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		g.t.Fatalf("fetching metrics: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		g.t.Fatal(err)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if i < 0 || err != nil {
			g.t.Fatalf("metrics line %q is not NAME VALUE", line)
		}
		out[line[:i]] = v
	}
	return out
}

// metricsAfter waits until the detector has seen n more datagrams than in before and returns the
// metrics then.
func (g *gateway) metricsAfter(before map[string]float64, n int) map[string]float64 {
	g.t.Helper()
	var m map[string]float64
	waitfor.For(g.t, fmt.Sprintf("the detector seeing %d more datagrams", n), 10*time.Second, func() bool {
		m = g.metrics()
		return m["hyp_knock_datagrams_seen_total"] >= before["hyp_knock_datagrams_seen_total"]+float64(n)
	})
	return m
}

// TestOracleMetricsDoNotMoveWithProgress: an attacker who can read /metrics sends a batch of
// datagrams that start and advance a real sequence (its first k-1 ports, over and over, as a
// binary search of the ports would) and an equal batch to random ports. Every metric moves by
// exactly the same amount for both: nothing on the page tells a datagram that advanced a
// sequence from one that did not. The root-only progress counters on the control socket do tell
// them apart, which shows that the first batch really advanced the sequence.
func TestOracleMetricsDoNotMoveWithProgress(t *testing.T) {
	g := newGateway(t, 83)
	l := g.lab
	p := parseURI(t, g.newKey("laptop", l.GatewayIP()))
	g.startWithMetrics()

	ports, err := sequence.PortsAt(p.Key, p.Params, time.Now().Unix(), 0)
	if err != nil {
		t.Fatal(err)
	}
	const rounds = 150
	var progress, random []uint16
	for range rounds {
		progress = append(progress, ports[:len(ports)-1]...)
	}
	// Random knock ports, none of any sequence the key may have loaded (so none can start or
	// advance one: root's hits must stay put) nor the service's.
	var avoid []uint16
	cur := p.Params.Window(time.Now().Unix())
	for w := cur - 2; w <= cur+2; w++ {
		q, err := sequence.Ports(p.Key, p.Params, w, 0)
		if err != nil {
			t.Fatal(err)
		}
		avoid = append(avoid, q...)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for len(random) < len(progress) {
		q := uint16(1024 + rng.IntN(65536-1024))
		if !slices.Contains(avoid, q) && q != servicePort {
			random = append(random, q)
		}
	}

	m0 := g.metrics()
	st0 := g.status()
	send(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), payload(p), progress...)
	m1 := g.metricsAfter(m0, len(progress))
	st1 := g.status()
	send(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), payload(p), random...)
	m2 := g.metricsAfter(m1, len(random))
	st2 := g.status()

	for name := range m2 {
		if _, ok := m0[name]; !ok {
			t.Errorf("metric %s appeared during the test", name)
		}
	}
	for name, v0 := range m0 {
		v1, ok1 := m1[name]
		v2, ok2 := m2[name]
		if !ok1 || !ok2 {
			t.Errorf("metric %s disappeared during the test", name)
			continue
		}
		if v1-v0 != v2-v1 {
			t.Errorf("%s moved by %v for %d datagrams that advanced a sequence, by %v for %d to random ports: an oracle for the key",
				name, v1-v0, len(progress), v2-v1, len(random))
		}
	}
	if d := m1["hyp_knock_datagrams_seen_total"] - m0["hyp_knock_datagrams_seen_total"]; d != float64(len(progress)) {
		t.Errorf("the detector saw %v datagrams of the batch, want %d", d, len(progress))
	}

	// Root sees the progress: the first batch did start and advance the sequence.
	if st0.Detector.Progress == nil || st1.Detector.Progress == nil || st2.Detector.Progress == nil {
		t.Fatal("the control socket did not give root the progress counters")
	}
	hitsA := st1.Detector.Progress.Hits - st0.Detector.Progress.Hits
	hitsB := st2.Detector.Progress.Hits - st1.Detector.Progress.Hits
	t.Logf("progress counters (root only): hits %d for the sequence's prefix, %d for random ports", hitsA, hitsB)
	if hitsA < uint64(len(progress)) || hitsB != 0 {
		t.Errorf("root's hits moved by %d and %d; want at least %d (every datagram of the prefix) and 0", hitsA, hitsB, len(progress))
	}
	if st2.Server.HandledRecords != 0 || st2.Detector.Completions != 0 {
		t.Errorf("a prefix completed something: %+v %+v", st2.Server, st2.Detector)
	}
}
