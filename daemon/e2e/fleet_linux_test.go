package e2e

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/netlab"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// Fleets (docs/gateway.md, "Fleets, HA pairs and key rollout"): gateways that hold the same key
// file, each with the realm of its hypd.toml.

// startRealm starts hypd on g with scheme v3, the given realm and uses per time step, keys from
// keysDir (g.keys if empty).
func (g *gateway) startRealm(realm string, uses int, keysDir string) {
	g.t.Helper()
	conf := filepath.Join(g.dir, "hypd.toml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, "scheme = \"v3\"\nrealm = %q\nuses = %d\n", realm, uses), 0o600); err != nil {
		g.t.Fatal(err)
	}
	extra := []string{"--config", conf, "--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s"}
	if keysDir != "" {
		extra = append(extra, "--keys", keysDir) // the later --keys wins
	}
	g.start(extra...)
}

// fleetKey writes one v3 key file that names no realm, as hypd secret new writes it, into dir,
// and returns the key and the file's content (to copy it to other gateways).
func fleetKey(t *testing.T, dir, name string) (psk.Key, []byte) {
	t.Helper()
	out, err := exec.Command(bin("hypd"), "secret", "new", name, "--keys", dir, "--host", "10.77.0.1", "--services", fmt.Sprintf("tcp/%d", servicePort)).Output()
	if err != nil {
		t.Fatalf("hypd secret new %s: %v", name, describe(err))
	}
	p := parseURI(t, strings.TrimSpace(string(out)))
	if p.Params != sequence.V3Defaults("") {
		t.Fatalf("hypd secret new wrote %+v; want a v3 key", p.Params)
	}
	data, err := os.ReadFile(filepath.Join(dir, name+".toml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "realm") {
		t.Fatalf("a key made without --realm or a config names a realm:\n%s", data)
	}
	return p.Key, data
}

// installKey writes a key file's content into dir, 0600 and root's, as a rollout tool does.
func installKey(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name+".toml"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// v3Knock is the v3 sequence of k for realm at time now with counter c.
func v3Knock(t *testing.T, k psk.Key, realm string, now time.Time, c uint32) sequence.Candidate {
	t.Helper()
	cand, err := sequence.At(k, sequence.V3Defaults(realm), now.Unix(), c)
	if err != nil {
		t.Fatal(err)
	}
	return cand
}

// sendV3 sends a v3 sequence as a client does: datagram i to port i with tag i as its payload,
// from one socket in ns bound to local.
func sendV3(t *testing.T, ns *netlab.NS, local, to netip.Addr, c sequence.Candidate) {
	t.Helper()
	conn, err := ns.ListenPacket("udp4", netip.AddrPortFrom(local, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i, port := range c.Ports {
		if _, err := conn.WriteTo(binary.BigEndian.AppendUint64(nil, c.Tags[i]), udpAddr(to, port)); err != nil {
			t.Fatalf("sending to %v port %d: %v", to, port, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// decided is settle, and then until every record handled has its decision counted: Handle
// counts a record when it starts on it and the grant when the firewall has opened.
func (g *gateway) decided(before control.Status, n int) control.Status {
	g.t.Helper()
	st := g.settle(before, n)
	waitfor.For(g.t, "hypd counting every decision", 5*time.Second, func() bool {
		st = g.status()
		s := st.Server
		return s.HandledRecords == s.Grants+s.ReplaysRefused+s.StaleRefused+s.UnknownKey+s.GrantErrors
	})
	return st
}

// TestRealmsKeepAKnockAtItsGateway: gateways A and B hold the same key file and have realms a
// and b. A client's knock for A opens A; the same datagrams, captured and sent to B from B's
// own client's address, open nothing at B (they are not a sequence B knows). B's own knock, made
// by the hyp client from the URI with realm b, opens B.
func TestRealmsKeepAKnockAtItsGateway(t *testing.T) {
	a, b := newGateway(t, 121), newGateway(t, 122)
	key, data := fleetKey(t, t.TempDir(), "fleet")
	installKey(t, a.keys, "fleet", data)
	installKey(t, b.keys, "fleet", data)
	a.startRealm("a", 1, "")
	b.startRealm("b", 1, "")
	for _, g := range []*gateway{a, b} {
		st := g.status()
		if len(st.Keys) != 1 || st.Keys[0].Realm == nil || len(st.KeyProblems) != 0 {
			t.Fatalf("keys %+v, problems %v; want the fleet key, v3", st.Keys, st.KeyProblems)
		}
	}
	if r := *a.status().Keys[0].Realm; r != "a" {
		t.Fatalf("gateway A's key has realm %q; want the gateway's, a", r)
	}

	la, lb := a.lab, b.lab
	captured := v3Knock(t, key, "a", time.Now(), 0)
	sendV3(t, la.Client, la.ClientIP(), la.GatewayIP(), captured)
	waitOpen(t, probe{"A's client at A", la.Client, la.ClientIP(), la.GatewayIP()}, 2*time.Second)

	before := b.status()
	sendV3(t, lb.Client, lb.ClientIP(), lb.GatewayIP(), captured)
	st := b.decided(before, len(captured.Ports))
	assertHidden(t, probe{"B's client after A's knock replayed to B", lb.Client, lb.ClientIP(), lb.GatewayIP()})
	assertNoGrantIn(t, b.status(), lb.ClientIP())
	if st.Server.Grants != 0 || st.Server.ReplaysRefused != 0 {
		t.Errorf("B after A's knock: grants %d, replays refused %d; want neither (not a sequence of B's realm)", st.Server.Grants, st.Server.ReplaysRefused)
	}

	uri := "hyp://" + lb.GatewayIP().String() + "?secret=" + key.Encode() + "&scheme=v3&realm=b"
	b.knock(lb.Client, uri)
	waitOpen(t, probe{"B's client after its own knock", lb.Client, lb.ClientIP(), lb.GatewayIP()}, 2*time.Second)
	assertDecisionsAddUp(t, b.status())
}

// TestHAPairSharesARealm documents what one realm for two gateways means (an HA pair behind one
// address): spent state is each gateway's own, so a knock captured on its way to A and sent to B
// within its time window opens B, for the address that sends it, once; B then refuses it as a
// replay as A does. docs/gateway.md says so and what to do about it.
func TestHAPairSharesARealm(t *testing.T) {
	a, b := newGateway(t, 123), newGateway(t, 124)
	key, data := fleetKey(t, t.TempDir(), "fleet")
	installKey(t, a.keys, "fleet", data)
	installKey(t, b.keys, "fleet", data)
	a.startRealm("vpn.example.com", 1, "")
	b.startRealm("vpn.example.com", 1, "")

	la, lb := a.lab, b.lab
	captured := v3Knock(t, key, "vpn.example.com", time.Now(), 0)
	sendV3(t, la.Client, la.ClientIP(), la.GatewayIP(), captured)
	waitOpen(t, probe{"client at A", la.Client, la.ClientIP(), la.GatewayIP()}, 2*time.Second)

	// The attacker, after a failover, sends the captured knock to B from its own address.
	sendV3(t, lb.Attacker, lb.AttackerIP(), lb.GatewayIP(), captured)
	waitOpen(t, probe{"attacker at B", lb.Attacker, lb.AttackerIP(), lb.GatewayIP()}, 2*time.Second)
	// Only for that address, and only once at B.
	assertHidden(t, probe{"B's client, which sent nothing", lb.Client, lb.ClientIP(), lb.GatewayIP()})
	before := b.status()
	sendV3(t, lb.Client, lb.ClientIP(), lb.GatewayIP(), captured)
	waitfor.For(t, "B refusing the second replay", 5*time.Second, func() bool { return b.status().Server.ReplaysRefused == before.Server.ReplaysRefused+1 })
	assertHidden(t, probe{"B's client after replaying the spent knock", lb.Client, lb.ClientIP(), lb.GatewayIP()})
	// A, where the knock was spent first, refuses it too.
	beforeA := a.status()
	sendV3(t, la.Attacker, la.AttackerIP(), la.GatewayIP(), captured)
	waitfor.For(t, "A refusing the replay", 5*time.Second, func() bool { return a.status().Server.ReplaysRefused == beforeA.Server.ReplaysRefused+1 })
	assertHidden(t, probe{"attacker at A", la.Attacker, la.AttackerIP(), la.GatewayIP()})
}

// TestRealmGatewayRefusesAV2KeyFile: a gateway with a realm does not load a v2 key file, says
// which and why in its status, and serves its v3 key as ever; the v2 key's knock opens nothing.
func TestRealmGatewayRefusesAV2KeyFile(t *testing.T) {
	g := newGateway(t, 125)
	l := g.lab
	key, data := fleetKey(t, t.TempDir(), "laptop")
	installKey(t, g.keys, "laptop", data)
	// A key file of scheme v2, as a gateway without a realm had it.
	old, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	installKey(t, g.keys, "old", []byte("secret = \""+old.Encode()+"\"\nscheme = \"v2\"\n"))
	oldURI := "hyp://" + l.GatewayIP().String() + "?secret=" + old.Encode()
	g.startRealm("office", 1, "")

	st := g.status()
	if len(st.Keys) != 1 || st.Keys[0].Name != "laptop" || st.Keys[0].Realm == nil || *st.Keys[0].Realm != "office" {
		t.Errorf("keys %+v; want laptop alone, v3 of realm office", st.Keys)
	}
	if st.Realm != "office" {
		t.Errorf("status realm %q; want office", st.Realm)
	}
	if len(st.KeyProblems) != 1 || !strings.Contains(st.KeyProblems[0], filepath.Join(g.keys, "old")) || !strings.Contains(st.KeyProblems[0], "loads only v3 keys") {
		t.Errorf("key problems %q; want the v2 file named, with why", st.KeyProblems)
	}

	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	before := g.status()
	k := g.knock(l.Client, oldURI)
	g.settle(before, len(k.ports))
	assertHidden(t, client)
	sendV3(t, l.Client, l.ClientIP(), l.GatewayIP(), v3Knock(t, key, "office", time.Now(), 0))
	waitOpen(t, client, 2*time.Second)
}

// TestKeySetRolledOutByDirectorySwap: two gateways serve one key set from a directory their
// rollout replaces as a whole, A through a symlink renamed over (ln -sfn; mv -T), B by two
// renames (mv keys keys.old; mv keys.new keys). While a client knocks both, once every 100 ms,
// the set is rolled out three times, each time with the client's key unchanged and a new key
// beside it. Not one knock is lost (each grants), and each new key opens both gateways after
// its rollout.
func TestKeySetRolledOutByDirectorySwap(t *testing.T) {
	a, b := newGateway(t, 126), newGateway(t, 127)
	stage := t.TempDir()
	alice, aliceFile := fleetKey(t, stage, "alice")

	// A: keys -> keys.0, swapped by renaming a new symlink over it.
	linkA := filepath.Join(a.dir, "keyset")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mkset := func(dir string, keys map[string][]byte) {
		t.Helper()
		must(os.Mkdir(dir, 0o700))
		for name, data := range keys {
			installKey(t, dir, name, data)
		}
	}
	set := map[string][]byte{"alice": aliceFile}
	mkset(filepath.Join(a.dir, "keyset.0"), set)
	must(os.Symlink("keyset.0", linkA))
	// B: a plain directory, replaced by two renames.
	dirB := filepath.Join(b.dir, "keyset")
	mkset(dirB, set)

	a.startRealm("a", 64, linkA)
	b.startRealm("b", 64, dirB)

	// The keys the rollouts bring, made before: the rollouts run in a goroutine of their own.
	var fresh []psk.Key
	var freshFiles [][]byte
	for range 3 {
		k, data := fleetKey(t, t.TempDir(), "new")
		fresh, freshFiles = append(fresh, k), append(freshFiles, data)
	}
	// rollout installs a key set on both gateways the way each does it; it runs beside the
	// knocks, so it reports with t.Error.
	rollout := func(gen int, keys map[string][]byte) error {
		write := func(dir string) error {
			if err := os.Mkdir(dir, 0o700); err != nil {
				return err
			}
			for name, data := range keys {
				if err := os.WriteFile(filepath.Join(dir, name+".toml"), data, 0o600); err != nil {
					return err
				}
			}
			return nil
		}
		next := fmt.Sprintf("keyset.%d", gen)
		for _, step := range []func() error{
			func() error { return write(filepath.Join(a.dir, next)) },
			func() error { return os.Symlink(next, linkA+".tmp") },
			func() error { return os.Rename(linkA+".tmp", linkA) },
			func() error { return write(dirB + ".new") },
			func() error { return os.Rename(dirB, dirB+".old") },
			func() error { return os.Rename(dirB+".new", dirB) },
			func() error { return os.RemoveAll(dirB + ".old") },
		} {
			if err := step(); err != nil {
				return fmt.Errorf("rollout %d: %w", gen, err)
			}
		}
		return nil
	}

	// The client knocks both gateways in turn; the rollouts run beside it.
	var wg sync.WaitGroup
	wg.Go(func() {
		for gen := 1; gen <= 3; gen++ {
			time.Sleep(400 * time.Millisecond)
			set[fmt.Sprintf("new%d", gen)] = freshFiles[gen-1]
			if err := rollout(gen, set); err != nil {
				t.Error(err)
				return
			}
		}
	})
	counters := map[uint64]uint32{} // window -> next counter: each knock a new use
	knocks := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); knocks++ {
		now := time.Now()
		w := sequence.V3Defaults("").Window(now.Unix())
		c := counters[w]
		counters[w]++
		for _, g := range []*gateway{a, b} {
			realm := map[*gateway]string{a: "a", b: "b"}[g]
			l := g.lab
			before := g.status()
			cand := v3Knock(t, alice, realm, now, c)
			sendV3(t, l.Client, l.ClientIP(), l.GatewayIP(), cand)
			st := g.decided(before, len(cand.Ports))
			if st.Server.Grants != before.Server.Grants+1 {
				t.Errorf("knock %d (use %d) at gateway %s during the rollouts: grants %d -> %d; a knock was lost (keys %v, problems %v)",
					knocks, c, realm, before.Server.Grants, st.Server.Grants, keyNames(st), st.KeyProblems)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("%d knocks on each gateway during 3 rollouts", knocks)

	if t.Failed() {
		return
	}
	// Each key the rollouts brought opens both gateways.
	for i, k := range fresh {
		gen := i + 1
		for _, g := range []*gateway{a, b} {
			realm := map[*gateway]string{a: "a", b: "b"}[g]
			l := g.lab
			var st = g.status()
			waitfor.For(t, fmt.Sprintf("gateway %s loading rollout %d", realm, gen), 5*time.Second, func() bool {
				st = g.status()
				return len(st.Keys) == 4
			})
			before := st
			cand := v3Knock(t, k, realm, time.Now(), 0)
			sendV3(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), cand) // any address: a new user
			st = g.decided(before, len(cand.Ports))
			if st.Server.Grants != before.Server.Grants+1 {
				t.Errorf("the key of rollout %d did not open gateway %s (keys %v)", gen, realm, keyNames(st))
			}
		}
	}
}

// keyNames lists the keys a status shows, for a message.
func keyNames(st control.Status) []string {
	var out []string
	for _, k := range st.Keys {
		out = append(out, k.Name)
	}
	return out
}
