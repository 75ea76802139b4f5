package firewall

import (
	"context"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReconfigureKeepsGrants(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh}})
	a := netip.MustParseAddr("10.77.1.2")
	if err := f.Allow(a, []protected.Service{ssh}, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.Reconfigure([]protected.Service{ssh, wireguard}, nil, true); err != nil {
		t.Fatal(err)
	}
	if out := ns.run(t, "nft", "-p", "list", "set", "inet", "hyp", "protected"); !strings.Contains(out, "17 . 51820") || !strings.Contains(out, "6 . 22") {
		t.Errorf("protected set after Reconfigure:\n%s", out)
	}
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, wantStealth) {
		t.Errorf("input rules after Reconfigure: %v", r)
	}
	if g := grantsOf(t, f); g["10.77.1.2 tcp/22"] < 50*time.Second {
		t.Errorf("grant lost by Reconfigure: %v", g)
	}
	if err := f.Reconfigure([]protected.Service{ssh}, []protected.Service{ssh}, false); err == nil {
		t.Error("Reconfigure accepted a service both public and protected")
	}
}

// Every way an admin (or a script) can weaken the table from outside is found as drift and
// repaired, keeping the grants where the allow sets survived.
func TestRepairFindsAndUndoesEveryOutsideChange(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh, wireguard}, Public: []protected.Service{{Proto: "tcp", Port: 443}}, Stealth: true})
	if drift, err := f.Repair(); err != nil || len(drift) != 0 {
		t.Fatalf("Repair on an intact table = %v, %v; want no drift", drift, err)
	}
	a := netip.MustParseAddr("10.77.1.2")
	for _, c := range []struct {
		name      string
		cmd       []string
		keepGrant bool
	}{
		{"flush ruleset", []string{"nft", "flush", "ruleset"}, false},
		{"delete table", []string{"nft", "delete", "table", "inet", "hyp"}, false},
		{"flush table", []string{"nft", "flush", "table", "inet", "hyp"}, true},
		{"flush chain", []string{"nft", "flush", "chain", "inet", "hyp", "input"}, true},
		{"delete chain", []string{"sh", "-c", "nft flush chain inet hyp forward && nft delete chain inet hyp forward"}, true},
		{"flush protected", []string{"nft", "flush", "set", "inet", "hyp", "protected"}, true},
		{"delete protected element", []string{"nft", "delete", "element", "inet", "hyp", "protected", "{ tcp . 22 }"}, true},
		{"add public element", []string{"nft", "add", "element", "inet", "hyp", "public", "{ tcp . 22 }"}, true},
		{"insert accept", []string{"nft", "insert", "rule", "inet", "hyp", "input", "accept"}, true},
		{"append rule", []string{"nft", "add", "rule", "inet", "hyp", "input", "tcp", "dport", "22", "accept"}, true},
		{"policy drop", []string{"nft", "add", "chain", "inet", "hyp", "forward", "{ policy drop; }"}, true},
		{"foreign chain", []string{"nft", "add", "chain", "inet", "hyp", "extra"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := f.Allow(a, []protected.Service{ssh}, time.Minute, "test"); err != nil {
				t.Fatal(err)
			}
			ns.run(t, c.cmd...)
			drift, err := f.Repair()
			if err != nil || len(drift) == 0 {
				t.Fatalf("Repair after %s = %v, %v; want drift found and repaired", c.name, drift, err)
			}
			t.Logf("drift: %v", drift)
			if again, err := f.Drift(); err != nil || len(again) != 0 {
				t.Fatalf("drift after the repair: %v, %v", again, err)
			}
			if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, wantStealth) {
				t.Errorf("input rules after the repair: %v", r)
			}
			if r := chainRules(t, ns, "hyp", "forward"); !slices.Equal(r, wantForwardStealth) {
				t.Errorf("forward rules after the repair: %v", r)
			}
			if out := ns.run(t, "nft", "-p", "list", "set", "inet", "hyp", "protected"); !strings.Contains(out, "6 . 22") || !strings.Contains(out, "17 . 51820") {
				t.Errorf("protected set after the repair:\n%s", out)
			}
			_, hasGrant := grantsOf(t, f)["10.77.1.2 tcp/22"]
			if c.keepGrant && !hasGrant {
				t.Errorf("the grant did not survive %s", c.name)
			}
		})
	}
}

// Watch repairs within a fraction of a second of a change, woken by nftables notifications
// rather than its (here: hour-long) interval.
func TestWatchRepairsOnNotification(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh}})
	ctx, cancel := context.WithCancel(context.Background())
	repaired := make(chan []string, 8)
	done := make(chan error, 1)
	go func() {
		done <- f.Watch(ctx, time.Hour, func(drift []string, err error) {
			if err != nil {
				t.Errorf("watch: %v", err)
			}
			repaired <- drift
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	// The first check runs at once; let it pass before changing anything.
	waitDrift := func(what string, start time.Time) time.Duration {
		select {
		case d := <-repaired:
			t.Logf("%s: repaired %v after %v", what, d, time.Since(start))
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not repaired within 5s", what)
		}
		return time.Since(start)
	}
	for _, cmd := range [][]string{
		{"nft", "flush", "chain", "inet", "hyp", "input"},
		{"nft", "flush", "set", "inet", "hyp", "protected"},
		{"nft", "flush", "ruleset"},
	} {
		// A grant (our own change) must not count as drift.
		if err := f.Allow(netip.MustParseAddr("10.77.1.9"), []protected.Service{ssh}, time.Minute, "test"); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		ns.run(t, cmd...)
		waitDrift(strings.Join(cmd, " "), start)
		if d, err := f.Drift(); err != nil || len(d) != 0 {
			t.Fatalf("after repair: drift %v, %v", d, err)
		}
	}
	select {
	case d := <-repaired:
		t.Errorf("repair without an outside change: %v", d)
	default:
	}
}
