package e2e

import (
	"fmt"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/control"
	"golang.org/x/sys/unix"
)

// writeKeys writes n key files NAME-i.toml with the given uses and returns their secrets.
func writeKeys(t *testing.T, dir, name string, n, uses int) []psk.Key {
	t.Helper()
	keys := make([]psk.Key, n)
	for i := range keys {
		k, err := psk.Generate()
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
		body := fmt.Sprintf("secret = %q\nuses = %d\n", k.Encode(), uses)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.toml", name, i)), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// knockKey sends key's sequence of the current window and counter from the client.
func (g *gateway) knockKey(k psk.Key, counter uint32) {
	g.t.Helper()
	p := sequence.Defaults()
	ports, err := sequence.Ports(k, p, p.Window(time.Now().Unix()), counter)
	if err != nil {
		g.t.Fatal(err)
	}
	send(g.t, g.lab.Client, g.lab.ClientIP(), g.lab.GatewayIP(), knock.PayloadFor(p.Scheme), ports...)
}

// Case 6: more sequences than the detector holds. A configuration that cannot fit at all is
// refused at start, naming the numbers, before any change; keys added at run time beyond the
// table's size never lock everyone out: the current window is loaded first.
func TestCapacityNeverLocksEveryoneOut(t *testing.T) {
	g := newGateway(t, 28)
	l := g.lab
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	// 800 keys x 1024 uses x 22 windows at skew 10 is over the 2^24 slots a detector can have.
	big := t.TempDir()
	writeKeys(t, big, "agent", 800, 1024)
	out, code := g.hypdCmd("run", "--interface", "eth0", "--keys", big, "--state", g.state, "--control", g.sock,
		"--services", fmt.Sprintf("tcp/%d", servicePort), "--skew", "10")
	if code == 0 || !strings.Contains(out, "800 keys need") || !strings.Contains(out, "16777216") {
		t.Fatalf("hypd run with keys that cannot fit: exit %d: %s", code, out)
	}
	// A refused start fails closed: what it was told to protect is hidden before it exits.
	if !strings.Contains(g.nftSet("protected"), fmt.Sprintf("6 . %d", servicePort)) {
		t.Fatalf("the refused start did not hide tcp/%d:\n%s", servicePort, g.ruleset())
	}
	assertHidden(t, attacker, client)

	// One key at start sizes the table at its minimum (65,536 slots); then 25 keys of 1,024 uses
	// each arrive: 76,800 sequences at skew 1.
	first := writeKeys(t, g.keys, "first", 1, 1)
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	more := writeKeys(t, g.keys, "busy", 25, 1024)
	waitfor.For(t, "status showing the sequences left out", 15*time.Second, func() bool { return g.status().Server.SequencesLeftOut > 0 })
	st := g.status()
	if st.Server.SequencesLeftOut == 0 || st.Server.SequencesLoaded == 0 {
		t.Fatalf("status after the overflow: loaded %d, left out %d", st.Server.SequencesLoaded, st.Server.SequencesLeftOut)
	}
	t.Logf("after the overflow: %d sequences loaded, %d left out", st.Server.SequencesLoaded, st.Server.SequencesLeftOut)
	assertHidden(t, attacker, client)

	// The newest key, and the first one, still open with this window's first counter.
	g.knockKey(more[len(more)-1], 0)
	waitOpen(t, client, 2*time.Second)
	g.revokeAll()
	g.knockKey(first[0], 0)
	waitOpen(t, client, 2*time.Second)
	assertHidden(t, attacker)
}

// A full disk under the state directory: a grant whose use cannot be recorded is refused (it
// could be replayed after a restart), logged and counted; once there is room, knocks open again.
// The spent log appends small records, so the first grants after the disk fills still fit in the
// file's last block; the test knocks until one does not.
func TestFullStateDiskRefusesThenRecovers(t *testing.T) {
	g := newGateway(t, 29)
	l := g.lab
	if err := os.MkdirAll(g.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", g.state, "tmpfs", 0, "size=256k,mode=0700"); err != nil {
		t.Fatalf("mounting a small tmpfs: %v", err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(g.state, unix.MNT_DETACH); err != nil {
			t.Error(err)
		}
	})
	keys := writeKeys(t, g.keys, "many", 1, 1024)
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	filler := filepath.Join(g.state, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC: the disk is full
		}
	}
	f.Close()

	counter := uint32(0)
	for ; ; counter++ {
		if counter == 200 {
			t.Fatalf("200 grants recorded on a full disk; the log's block cannot hold that many:\n%s", hypd.Output())
		}
		g.knockKey(keys[0], counter)
		waitfor.For(t, "hypd deciding on the knock", 2*time.Second, func() bool { return g.status().Server.HandledRecords == uint64(counter)+1 })
		if g.status().Server.GrantErrors > 0 {
			break
		}
	}
	t.Logf("the disk was full; %d grants still fitted in the log's last block, then one was refused", counter)
	if st := g.status(); st.Server.GrantErrors != 1 || st.Server.Grants != uint64(counter) {
		t.Errorf("status after the full disk: %d grants, %d grant errors; want %d and 1", st.Server.Grants, st.Server.GrantErrors, counter)
	}
	g.revokeAll() // the grants that fitted
	assertHidden(t, client, attacker)

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	g.knockKey(keys[0], counter+1)
	waitOpen(t, client, time.Second)
	assertHidden(t, attacker)
	assertDecisionsAddUp(t, g.status())
}

// assertDecisionsAddUp checks hypd's books: every sequence the kernel completed was either
// decided on, discarded as stale (removed between completion and reading) or lost in a full ring
// buffer; every decision is exactly one of grant, refusal or error.
func assertDecisionsAddUp(t *testing.T, st control.Status) {
	t.Helper()
	s, d := st.Server, st.Detector
	if s.HandledRecords != s.Grants+s.ReplaysRefused+s.StaleRefused+s.UnknownKey+s.GrantErrors {
		t.Errorf("decisions do not add up: handled %d != grants %d + replays %d + stale %d + unknown %d + errors %d",
			s.HandledRecords, s.Grants, s.ReplaysRefused, s.StaleRefused, s.UnknownKey, s.GrantErrors)
	}
	if d.Completions != s.HandledRecords+d.StaleRecords+d.RingbufDrops {
		t.Errorf("completions %d != handled %d + stale records %d + ring buffer drops %d", d.Completions, s.HandledRecords, d.StaleRecords, d.RingbufDrops)
	}
}
