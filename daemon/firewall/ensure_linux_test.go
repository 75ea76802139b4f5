package firewall

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReconfigureKeepsGrants(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []Service{ssh}})
	a := netip.MustParseAddr("10.77.1.2")
	if err := f.Allow(a, []Service{ssh}, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reconfigure([]Service{ssh, wireguard}, nil, true); err != nil {
		t.Fatal(err)
	}
	if out := ns.run(t, "nft", "list", "set", "inet", "hyp", "protected"); !strings.Contains(out, "udp . 51820") || !strings.Contains(out, "tcp . 22") {
		t.Errorf("protected set after Reconfigure:\n%s", out)
	}
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, append(slices.Clone(wantInput), wantStealth...)) {
		t.Errorf("input rules after Reconfigure: %v", r)
	}
	if g := grantsOf(t, f); g["10.77.1.2 tcp/22"] < 50*time.Second {
		t.Errorf("grant lost by Reconfigure: %v", g)
	}
	if err := f.Reconfigure([]Service{ssh}, []Service{ssh}, false); err == nil {
		t.Error("Reconfigure accepted a service both public and protected")
	}
}

func TestEnsureRebuildsAFlushedTable(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []Service{ssh}})
	if rebuilt, err := f.Ensure(); err != nil || rebuilt {
		t.Fatalf("Ensure on an intact table = %v, %v; want false, nil", rebuilt, err)
	}
	// What Debian's nftables.service does at start.
	ns.run(t, "nft", "flush", "ruleset")
	rebuilt, err := f.Ensure()
	if err != nil || !rebuilt {
		t.Fatalf("Ensure after flush ruleset = %v, %v; want true, nil", rebuilt, err)
	}
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, wantInput) {
		t.Errorf("input rules after Ensure: %v", r)
	}
	if err := f.Allow(netip.MustParseAddr("10.77.1.3"), []Service{ssh}, time.Minute, "test"); err != nil {
		t.Fatalf("Allow after the rebuild: %v", err)
	}
}
