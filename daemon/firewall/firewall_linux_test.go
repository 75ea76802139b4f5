package firewall

import (
	"context"
	"encoding/json"
	"github.com/hideyourports/hyp/daemon/protected"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests read nftables state with nft -p: layer 4 protocols as numbers (6 for tcp, 17 for
// udp), printed the same whether or not /etc/protocols exists (Debian's netbase, absent from a
// minimal root); ports are numeric unless -S asks for /etc/services names.

// nftJSON is the part of `nft -j -p list table` output the tests look at.
type nftJSON struct {
	Nftables []struct {
		Set *struct {
			Name  string   `json:"name"`
			Type  any      `json:"type"`
			Flags []string `json:"flags"`
			Elem  []any    `json:"elem"`
		} `json:"set"`
		Chain *struct {
			Name   string `json:"name"`
			Type   string `json:"type"`
			Hook   string `json:"hook"`
			Prio   int    `json:"prio"`
			Policy string `json:"policy"`
		} `json:"chain"`
		Rule *struct {
			Chain string `json:"chain"`
		} `json:"rule"`
	} `json:"nftables"`
}

func listJSON(t *testing.T, ns *testNS, table string) nftJSON {
	t.Helper()
	var out nftJSON
	if err := json.Unmarshal([]byte(ns.run(t, "nft", "-j", "-p", "list", "table", "inet", table)), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

var counterRE = regexp.MustCompile(` counter packets \d+ bytes \d+`)

// chainRules lists a chain's rules as nft prints them, without counters.
func chainRules(t *testing.T, ns *testNS, table, chain string) []string {
	t.Helper()
	var rules []string
	in := false
	for _, line := range strings.Split(ns.run(t, "nft", "-p", "list", "chain", "inet", table, chain), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "type filter hook"):
			in = true
		case in && line != "" && line != "}":
			rules = append(rules, counterRE.ReplaceAllString(line, " counter"))
		}
	}
	return rules
}

var (
	ssh       = protected.Service{Proto: "tcp", Port: 22}
	wireguard = protected.Service{Proto: "udp", Port: 51820}
)

func openNS(t *testing.T, ns *testNS, cfg Config) *Firewall {
	t.Helper()
	cfg.NetNS = ns.fd
	f, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := f.Close(); err != nil {
			t.Error(err)
		}
	})
	return f
}

var wantInput = []string{
	"ct state established,related accept",
	`iif "lo" accept`,
	"ip saddr . meta l4proto . th dport @allow4 accept",
	"ip6 saddr . meta l4proto . th dport @allow6 accept",
	"ip6 nexthdr != 6 ip6 nexthdr != 17 meta l4proto . tcp dport != @public counter drop",
	"ip6 nexthdr != 6 ip6 nexthdr != 17 meta l4proto . udp dport != @public counter drop",
	"meta l4proto . tcp dport != @protected socket transparent & 0 == 0 accept",
	"ip hdrlength != 5 meta l4proto . tcp dport != @public counter drop",
	"ip dscp != cs0 meta l4proto . tcp dport != @public counter drop",
	"ip6 dscp != cs0 meta l4proto . tcp dport != @public counter drop",
	"ct state invalid meta l4proto . udp dport != @public counter drop",
	"tcp doff < 5 meta l4proto . tcp dport @protected counter drop",
	"ct state invalid tcp flags syn / fin,syn,rst,ack meta l4proto . tcp dport @protected counter drop",
	"tcp option md5sig exists meta l4proto . tcp dport @protected counter drop",
	"meta nfproto ipv6 udp checksum 0 meta l4proto . udp dport @protected counter drop",
	"meta l4proto . tcp dport @protected meta pkttype host counter reject with tcp reset",
	"meta l4proto . udp dport @protected meta pkttype host udp length > 24 counter reject",
	"meta l4proto . th dport @protected counter drop",
	"fib daddr type local udp length <= 24 meta l4proto . udp dport != @public counter drop",
	"fib daddr type anycast udp length <= 24 meta l4proto . udp dport != @public counter drop",
}

var wantStealth = []string{
	"ct state established,related accept",
	`iif "lo" accept`,
	"ip saddr . meta l4proto . th dport @allow4 accept",
	"ip6 saddr . meta l4proto . th dport @allow6 accept",
	"meta l4proto . th dport @protected counter drop",
	"meta l4proto . th dport @public accept",
	"meta nfproto ipv6 @nh,64,16 & 0xffc0 == 0xfe80 udp dport 546 accept",
	"meta l4proto 6 counter drop",
	"meta l4proto 17 counter drop",
}

var wantForward = []string{
	"ct state established,related accept",
	"ct status ! dnat accept",
	"ip saddr . meta l4proto . ct original proto-dst @allow4 accept",
	"ip6 saddr . meta l4proto . ct original proto-dst @allow6 accept",
	"ip6 nexthdr != 6 ip6 nexthdr != 17 meta l4proto . ct original proto-dst @protected counter drop",
	"meta l4proto 6 ip hdrlength != 5 meta l4proto . ct original proto-dst @protected counter drop",
	"meta l4proto 6 ip dscp != cs0 meta l4proto . ct original proto-dst @protected counter drop",
	"meta l4proto 6 ip6 dscp != cs0 meta l4proto . ct original proto-dst @protected counter drop",
	"meta l4proto 17 ct state invalid meta l4proto . ct original proto-dst @protected counter drop",
	"tcp doff < 5 meta l4proto . ct original proto-dst @protected counter drop",
	"ct state invalid tcp flags syn / fin,syn,rst,ack meta l4proto . ct original proto-dst @protected counter drop",
	"tcp option md5sig exists meta l4proto . ct original proto-dst @protected counter drop",
	"meta nfproto ipv6 udp checksum 0 meta l4proto . ct original proto-dst @protected counter drop",
	"meta l4proto 6 meta l4proto . ct original proto-dst @protected meta pkttype host counter reject with tcp reset",
	"meta l4proto . ct original proto-dst @protected meta pkttype host udp length > 24 counter reject",
	"meta l4proto . ct original proto-dst @protected counter drop",
}

func TestOpenBuildsTable(t *testing.T) {
	ns := newNS(t)
	openNS(t, ns, Config{Protected: []protected.Service{ssh, wireguard}})

	got := listJSON(t, ns, "hyp")
	sets := map[string]string{}
	chains := map[string]string{}
	for _, o := range got.Nftables {
		if s := o.Set; s != nil {
			typ, _ := json.Marshal(s.Type)
			sets[s.Name] = string(typ) + " " + strings.Join(s.Flags, ",")
			if s.Name == setProtected {
				elems, _ := json.Marshal(s.Elem)
				if string(elems) != `[{"concat":[6,22]},{"concat":[17,51820]}]` {
					t.Errorf("protected elements %s", elems)
				}
			}
		}
		if c := o.Chain; c != nil {
			chains[c.Name] = c.Type + " " + c.Hook + " " + c.Policy + " " + itoa(c.Prio)
		}
	}
	wantSets := map[string]string{
		"allow4":    `["ipv4_addr","inet_proto","inet_service"] timeout`,
		"allow6":    `["ipv6_addr","inet_proto","inet_service"] timeout`,
		"protected": `["inet_proto","inet_service"] `,
		"public":    `["inet_proto","inet_service"] `,
	}
	for k, v := range wantSets {
		if sets[k] != v {
			t.Errorf("set %s: %q, want %q", k, sets[k], v)
		}
	}
	if len(sets) != len(wantSets) {
		t.Errorf("sets %v", sets)
	}
	wantChains := map[string]string{"input": "filter input accept -10", "forward": "filter forward accept -10", "output": "filter output accept -10"}
	for k, v := range wantChains {
		if chains[k] != v {
			t.Errorf("chain %s: %q, want %q", k, chains[k], v)
		}
	}
	if len(chains) != 3 {
		t.Errorf("chains %v", chains)
	}
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, wantInput) {
		t.Errorf("input rules:\n%s\nwant:\n%s", strings.Join(r, "\n"), strings.Join(wantInput, "\n"))
	}
	if r := chainRules(t, ns, "hyp", "forward"); !slices.Equal(r, wantForward) {
		t.Errorf("forward rules:\n%s\nwant:\n%s", strings.Join(r, "\n"), strings.Join(wantForward, "\n"))
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestOpenStealthRules(t *testing.T) {
	ns := newNS(t)
	openNS(t, ns, Config{Protected: []protected.Service{ssh}, Stealth: true, Public: []protected.Service{{Proto: "tcp", Port: 80}}})
	want := wantStealth
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, want) {
		t.Errorf("input rules:\n%s\nwant:\n%s", strings.Join(r, "\n"), strings.Join(want, "\n"))
	}
	if out := ns.run(t, "nft", "-p", "list", "set", "inet", "hyp", "public"); !strings.Contains(out, "elements = { 6 . 80 }") {
		t.Errorf("public set:\n%s", out)
	}
}

func grantsOf(t *testing.T, f *Firewall) map[string]time.Duration {
	t.Helper()
	gs, err := f.Grants()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]time.Duration{}
	for _, g := range gs {
		m[g.Addr.String()+" "+g.Service.String()] = g.Expires
	}
	return m
}

func TestAllowRenewRevoke(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh, wireguard}})
	a4 := netip.MustParseAddr("10.77.1.2")
	a6 := netip.MustParseAddr("fd77:1::2")
	other := netip.MustParseAddr("10.77.1.3")

	if err := f.Allow(a4, []protected.Service{ssh, wireguard}, 10*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(a6, []protected.Service{ssh}, 10*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(other, []protected.Service{ssh}, 10*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	g := grantsOf(t, f)
	if len(g) != 4 {
		t.Fatalf("grants %v, want 4", g)
	}
	for k, left := range g {
		if left <= 9*time.Second || left > 10*time.Second {
			t.Errorf("%s: %v left, want about 10s", k, left)
		}
	}
	if out := ns.run(t, "nft", "-p", "list", "set", "inet", "hyp", "allow4"); !strings.Contains(out, "10.77.1.2 . 6 . 22 timeout 10s expires") {
		t.Errorf("nft does not show the element with its timeout:\n%s", out)
	}

	// Renewal, longer and shorter: the grant's time left becomes the new ttl.
	if err := f.Allow(a4, []protected.Service{ssh}, 100*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	if left := grantsOf(t, f)["10.77.1.2 tcp/22"]; left <= 99*time.Second || left > 100*time.Second {
		t.Errorf("renewed to 100s: %v left", left)
	}
	if left := grantsOf(t, f)["10.77.1.2 udp/51820"]; left > 10*time.Second {
		t.Errorf("renewing tcp/22 changed udp/51820: %v left", left)
	}
	if err := f.Allow(a4, []protected.Service{ssh}, 5*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	if left := grantsOf(t, f)["10.77.1.2 tcp/22"]; left > 5*time.Second {
		t.Errorf("renewed to 5s: %v left", left)
	}

	if n, err := f.Revoke(a4); err != nil || n != 2 {
		t.Fatalf("Revoke(%s) = %d, %v; want its 2 grants closed", a4, n, err)
	}
	if n, err := f.Revoke(a4); err != nil || n != 0 {
		t.Fatalf("revoking twice = %d, %v; want nothing left to close", n, err)
	}
	g = grantsOf(t, f)
	if _, ok := g["10.77.1.3 tcp/22"]; !ok || len(g) != 2 {
		t.Errorf("after revoking %s: %v", a4, g)
	}
	if n, err := f.Revoke(a6); err != nil || n != 1 {
		t.Fatalf("Revoke(%s) = %d, %v; want 1", a6, n, err)
	}
	if g := grantsOf(t, f); len(g) != 1 {
		t.Errorf("after revoking %s: %v", a6, g)
	}
}

func TestGrantExpiresByItself(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh}})
	a := netip.MustParseAddr("fd77:1::2")
	start := time.Now()
	if err := f.Allow(a, []protected.Service{ssh}, 2*time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	for len(grantsOf(t, f)) != 0 {
		if time.Since(start) > 6*time.Second {
			t.Fatal("a 2s grant is still there after 6s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(start); d < 1900*time.Millisecond {
		t.Errorf("a 2s grant vanished after %v", d)
	}
	// An expired element can be granted again (no stale entry in the way).
	if err := f.Allow(a, []protected.Service{ssh}, time.Second, "test"); err != nil {
		t.Fatal(err)
	}
	if len(grantsOf(t, f)) != 1 {
		t.Error("grant after expiry missing")
	}
}

func TestReopenKeepsGrantsAndRebuildsRules(t *testing.T) {
	ns := newNS(t)
	f, err := Open(Config{Protected: []protected.Service{ssh}, NetNS: ns.fd})
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddr("10.77.1.2")
	if err := f.Allow(a, []protected.Service{ssh}, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(a, []protected.Service{ssh}, time.Minute, "test"); err == nil {
		t.Error("Allow after Close succeeded")
	}
	if _, err := f.Grants(); err == nil {
		t.Error("Grants after Close succeeded")
	}
	// Close leaves the table (fail closed).
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, wantInput) {
		t.Fatalf("after Close the input chain is %v", r)
	}

	// hypd restarts with another config: grants stay, rules follow the config.
	f2 := openNS(t, ns, Config{Protected: []protected.Service{wireguard}, Stealth: true})
	g := grantsOf(t, f2)
	if left, ok := g["10.77.1.2 tcp/22"]; !ok || left < 50*time.Second {
		t.Errorf("grant after reopen: %v", g)
	}
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, wantStealth) {
		t.Errorf("input rules after reopen: %v", r)
	}
	if out := ns.run(t, "nft", "-p", "list", "set", "inet", "hyp", "protected"); !strings.Contains(out, "elements = { 17 . 51820 }") {
		t.Errorf("protected set after reopen:\n%s", out)
	}
	// And back without stealth: the stealth rules go.
	openNS(t, ns, Config{Protected: []protected.Service{wireguard}})
	if r := chainRules(t, ns, "hyp", "input"); !slices.Equal(r, wantInput) {
		t.Errorf("input rules after second reopen: %v", r)
	}
}

// TestOpenReplacesForeignLayout: objects in our table that do not match the
// layout (an older version's, or a hand edit) are replaced; a grant set of
// the wrong type is recreated.
func TestOpenReplacesForeignLayout(t *testing.T) {
	ns := newNS(t)
	script := `table inet hyp {
		set allow4 { type ipv4_addr; flags timeout; }
		set junk { type ipv4_addr; }
		chain input { type filter hook input priority 0; policy drop; }
		chain junk { ip saddr @junk drop; }
	}`
	nftScript(t, ns, script)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh}})
	out := listJSON(t, ns, "hyp")
	var names []string
	for _, o := range out.Nftables {
		if o.Set != nil {
			names = append(names, "set "+o.Set.Name)
		}
		if o.Chain != nil {
			names = append(names, "chain "+o.Chain.Name+" "+itoa(o.Chain.Prio)+" "+o.Chain.Policy)
		}
	}
	slices.Sort(names)
	want := []string{"chain forward -10 accept", "chain input -10 accept", "chain output -10 accept", "set allow4", "set allow6", "set protected", "set public"}
	if !slices.Equal(names, want) {
		t.Errorf("objects %v, want %v", names, want)
	}
	if err := f.Allow(netip.MustParseAddr("10.77.1.2"), []protected.Service{ssh}, time.Minute, "test"); err != nil {
		t.Fatalf("allow into recreated set: %v", err)
	}
}

func nftScript(t *testing.T, ns *testNS, script string) {
	t.Helper()
	c := ns.Command(context.Background(), "nft", "-f", "/dev/stdin")
	c.Stdin = strings.NewReader(script)
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v: %s", err, out)
	}
}

func TestCleanupDeletesOnlyOurTable(t *testing.T) {
	ns := newNS(t)
	nftScript(t, ns, `table inet other {
		set allow4 { type ipv4_addr; }
		chain input { type filter hook input priority 0; }
	}
	table ip hyp {
		chain input { type filter hook input priority 0; }
	}`)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh}})
	if err := f.Allow(netip.MustParseAddr("10.77.1.2"), []protected.Service{ssh}, time.Minute, "test"); err != nil {
		t.Fatal(err)
	}
	if err := Cleanup("", ns.fd); err != nil {
		t.Fatal(err)
	}
	tables := ns.run(t, "nft", "list", "tables")
	if strings.Contains(tables, "table inet hyp") {
		t.Errorf("table inet hyp survived Cleanup:\n%s", tables)
	}
	for _, keep := range []string{"table inet other", "table ip hyp"} {
		if !strings.Contains(tables, keep) {
			t.Errorf("Cleanup removed %s:\n%s", keep, tables)
		}
	}
	if err := Cleanup("", ns.fd); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// TestConcurrentUse runs Allow, Revoke and Grants from several goroutines
// on one Firewall (meaningful under -race).
func TestConcurrentUse(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh}})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := netip.AddrFrom4([4]byte{10, 77, 2, byte(i + 1)})
			for range 20 {
				if err := f.Allow(a, []protected.Service{ssh}, time.Minute, "test"); err != nil {
					errs <- err
					return
				}
				if _, err := f.Grants(); err != nil {
					errs <- err
					return
				}
			}
			if i%2 == 0 {
				if _, err := f.Revoke(a); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if g := grantsOf(t, f); len(g) != 2 {
		t.Errorf("grants %v, want the 2 not revoked", g)
	}
}

// The key that granted is kept in the set element's comment, so `hypd status` can name it.
func TestGrantsNameTheKey(t *testing.T) {
	ns := newNS(t)
	f := openNS(t, ns, Config{Protected: []protected.Service{ssh}})
	if err := f.Allow(netip.MustParseAddr("10.77.1.2"), []protected.Service{ssh}, time.Minute, "laptop"); err != nil {
		t.Fatal(err)
	}
	if err := f.Allow(netip.MustParseAddr("fd77:1::2"), []protected.Service{ssh}, time.Minute, "phone@home"); err != nil {
		t.Fatal(err)
	}
	gs, err := f.Grants()
	if err != nil {
		t.Fatal(err)
	}
	if len(gs) != 2 || gs[0].Key != "laptop" || gs[1].Key != "phone@home" {
		t.Fatalf("grants %+v, want keys laptop and phone@home", gs)
	}
}
