package e2e

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestRealmReloadKeepsKnocksBound (attacker review, h-attack2): a gateway of realm a has granted
// a client; hypd.toml is changed to realm b and reloaded, then back to a. A captured realm-a knock
// replayed by the attacker opens nothing at b, nor at a again (spent: the spent log knows the use
// whatever the realm), and the client's realm-b knock of the same window and counter is refused
// too (the use is spent: fail closed, the client steps its counter or waits a step).
func TestRealmReloadKeepsKnocksBound(t *testing.T) {
	g := newGateway(t, 3)
	l := g.lab
	key, _ := fleetKey(t, g.keys, "laptop")
	g.startRealm("a", 2, "")
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	now := time.Now()
	ca := v3Knock(t, key, "a", now, 0)
	sendV3(t, l.Client, l.ClientIP(), l.GatewayIP(), ca)
	waitOpen(t, client, 2*time.Second)
	waitGrants(t, g, 1)

	setRealm := func(realm string) {
		t.Helper()
		conf := filepath.Join(g.dir, "hypd.toml")
		if err := os.WriteFile(conf, []byte("scheme = \"v3\"\nrealm = \""+realm+"\"\nuses = 2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, code := g.hypdCmd("reload", "--socket", g.sock); code != 0 {
			t.Fatalf("hypd reload: exit %d: %s", code, out)
		}
		if r := g.status().Realm; r != realm {
			t.Fatalf("realm %q after the reload; want %q", r, realm)
		}
	}
	setRealm("b")
	before := g.status()
	sendV3(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), ca)
	st := g.decided(before, len(ca.Ports))
	assertNoGrantIn(t, st, l.AttackerIP())
	if st.Detector.Completions != before.Detector.Completions {
		t.Errorf("a realm-a knock completed a sequence at realm b")
	}
	assertHidden(t, attacker)

	cb := v3Knock(t, key, "b", now, 0)
	before = g.status()
	sendV3(t, l.Client, l.ClientIP(), l.GatewayIP(), cb)
	st = g.decided(before, len(cb.Ports))
	t.Logf("client's realm-b knock with the counter spent at realm a: grants %d -> %d, replays refused %d -> %d",
		before.Server.Grants, st.Server.Grants, before.Server.ReplaysRefused, st.Server.ReplaysRefused)

	setRealm("a")
	before = g.status()
	sendV3(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), ca)
	st = g.decided(before, len(ca.Ports))
	assertNoGrantIn(t, st, l.AttackerIP())
	if st.Server.Grants != before.Server.Grants {
		t.Errorf("the captured realm-a knock opened again after realm a came back")
	}
	assertHidden(t, attacker)
}
