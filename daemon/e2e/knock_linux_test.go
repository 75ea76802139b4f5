package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// TestKnockOpensForTheClientOnly walks the main path: hidden before, open within a second after
// `hyp knock`, for the knocking address alone; a replay of the spent sequence from the attacker
// opens nothing; IPv6 works the same way with its own set.
func TestKnockOpensForTheClientOnly(t *testing.T) {
	g := newGateway(t, 1)
	l := g.lab
	uri4 := g.newKey("laptop", l.GatewayIP())
	uri6 := g.newKey("phone", l.GatewayIP6())
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")

	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	client2 := probe{"client's second address", l.Client, l.ClientIP2(), l.GatewayIP()}
	client6 := probe{"client over IPv6", l.Client, l.ClientIP6(), l.GatewayIP6()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}
	attacker6 := probe{"attacker over IPv6", l.Attacker, l.AttackerIP6(), l.GatewayIP6()}

	assertHidden(t, client, client2, client6, attacker, attacker6)

	k := g.knock(l.Client, uri4)
	took := waitOpen(t, client, time.Second)
	t.Logf("IPv4: tcp/%d answered %v after hyp knock returned", servicePort, took)
	waitGrants(t, g, 1)

	// One address, one family: nobody else, not even the client's other addresses.
	assertHidden(t, client2, client6, attacker, attacker6)
	allow4 := g.nftSet("allow4")
	want := fmt.Sprintf("%s . 6 . %d", l.ClientIP(), servicePort)
	if !strings.Contains(allow4, want) {
		t.Errorf("allow4 has no element %q:\n%s", want, allow4)
	}
	if strings.Count(allow4, " . 6 . ") != 1 {
		t.Errorf("allow4 should hold exactly the client's grant:\n%s", allow4)
	}

	// The attacker replays what it saw: the same ports, in order, with the same payload, from its
	// own address. The sequence is spent: it completes, as a replay, and is refused.
	before := g.status()
	send(t, l.Attacker, l.AttackerIP(), l.GatewayIP(), payload(parseURI(t, uri4)), k.ports...)
	after := g.settle(before, len(k.ports))
	assertHidden(t, attacker)
	if after.Server.ReplaysRefused != before.Server.ReplaysRefused+1 || after.Server.Grants != before.Server.Grants {
		t.Errorf("replay after the knock: replays refused %d -> %d, grants %d -> %d; want one more replay refused, no grant",
			before.Server.ReplaysRefused, after.Server.ReplaysRefused, before.Server.Grants, after.Server.Grants)
	}
	if after.Detector.Seen < before.Detector.Seen+uint64(len(k.ports)) {
		t.Errorf("the detector saw %d datagrams of the replay, want %d (did it reach the gateway?)",
			after.Detector.Seen-before.Detector.Seen, len(k.ports))
	}
	assertNoGrantIn(t, after, l.AttackerIP())
	assertDecisionsAddUp(t, after)

	// IPv6: knock the gateway's fd77:: address; the grant lands in allow6, for that address only.
	g.knock(l.Client, uri6)
	took = waitOpen(t, client6, time.Second)
	t.Logf("IPv6: tcp/%d answered %v after hyp knock returned", servicePort, took)
	allow6 := g.nftSet("allow6")
	want6 := fmt.Sprintf("%s . 6 . %d", l.ClientIP6(), servicePort)
	if !strings.Contains(allow6, want6) {
		t.Errorf("allow6 has no element %q:\n%s", want6, allow6)
	}
	assertHidden(t, attacker6, attacker, client2)
	// hypd counts a grant after the kernel holds it, so the service can answer before the count.
	st := waitGrants(t, g, 2) // laptop over IPv4, phone over IPv6
	assertNoGrantIn(t, st, l.AttackerIP6(), l.AttackerIP(), l.ClientIP2())
	for _, want := range []netip.Addr{l.ClientIP(), l.ClientIP6()} {
		if !slices.ContainsFunc(st.Grants, func(gr control.Grant) bool { return gr.Source == want.String() }) {
			t.Errorf("status lists no grant for %v: %+v", want, st.Grants)
		}
	}
}

// TestReplayRaceFromAttacker: an attacker on the path sees each knock datagram and sends the same
// port right behind it, so its copy of the sequence completes a moment after the client's. The
// sequence is one-time: only the client is let in.
func TestReplayRaceFromAttacker(t *testing.T) {
	g := newGateway(t, 2)
	l := g.lab
	p := parseURI(t, g.newKey("laptop", l.GatewayIP()))
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")

	ports, err := sequence.PortsAt(p.Key, p.Params, time.Now().Unix(), 0)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := l.Client.ListenPacket("udp4", netip.AddrPortFrom(l.ClientIP(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	at, err := l.Attacker.ListenPacket("udp4", netip.AddrPortFrom(l.AttackerIP(), 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer at.Close()
	for _, port := range ports {
		dst := udpAddr(l.GatewayIP(), port)
		if _, err := cl.WriteTo(payload(p), dst); err != nil {
			t.Fatal(err)
		}
		if _, err := at.WriteTo(payload(p), dst); err != nil {
			t.Fatal(err)
		}
	}

	waitOpen(t, probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}, time.Second)
	time.Sleep(200 * time.Millisecond) // room for a second record to be handled
	assertHidden(t, probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()})
	st := g.status()
	assertNoGrantIn(t, st, l.AttackerIP())
	if st.Server.Grants != 1 {
		t.Errorf("grants = %d, want 1", st.Server.Grants)
	}
	// The attacker's copy completes too (a spent sequence stays loaded) and is refused as a
	// replay: by the spent store if it came before the kernel's mark, else flagged by the kernel.
	waitfor.For(t, "the attacker's copy refused as a replay", 2*time.Second, func() bool { return g.status().Server.ReplaysRefused > 0 })
	st = g.status()
	t.Logf("detector completions %d, replays refused %d", st.Detector.Completions, st.Server.ReplaysRefused)
	if st.Server.ReplaysRefused != 1 || st.Server.Grants != 1 {
		t.Errorf("replays refused %d, grants %d; want 1 and 1", st.Server.ReplaysRefused, st.Server.Grants)
	}
}

// TestOpenTimeEndsNewConnectsOnly: after the open time new connects fail, while a connection made
// in time keeps working.
func TestOpenTimeEndsNewConnectsOnly(t *testing.T) {
	const open = 4 * time.Second
	g := newGateway(t, 3)
	l := g.lab
	uri := g.newKey("laptop", l.GatewayIP())
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", open.String())
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}

	g.knock(l.Client, uri)
	knockedAt := time.Now()
	waitOpen(t, client, time.Second)
	conn, err := client.dial(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	echo(t, conn, "before expiry")

	// The kernel drops the element when its timeout ends; wait for that rather than for a clock.
	want := fmt.Sprintf("%s . 6 . %d", l.ClientIP(), servicePort)
	deadline := knockedAt.Add(open + 3*time.Second)
	for strings.Contains(g.nftSet("allow4"), want) {
		if time.Now().After(deadline) {
			t.Fatalf("grant still in allow4 %v after the knock (open %v):\n%s", time.Since(knockedAt), open, g.nftSet("allow4"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if gone := time.Since(knockedAt); gone < open-time.Second {
		t.Errorf("grant gone %v after the knock, before the open time %v", gone, open)
	}
	assertHidden(t, client)
	echo(t, conn, "after expiry")
}

// echo sends a line over an echo connection and checks it comes back.
func echo(t *testing.T, conn interface {
	Write([]byte) (int, error)
	Read([]byte) (int, error)
	SetDeadline(time.Time) error
}, msg string) {
	t.Helper()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write([]byte(msg + "\n")); err != nil {
		t.Fatalf("writing %q on the established connection: %v", msg, err)
	}
	line, err := bufio.NewReader(readerOf{conn}).ReadString('\n')
	if err != nil {
		t.Fatalf("reading %q back on the established connection: %v", msg, err)
	}
	if strings.TrimSpace(line) != msg {
		t.Fatalf("echo returned %q, want %q", line, msg)
	}
}

type readerOf struct {
	r interface{ Read([]byte) (int, error) }
}

func (r readerOf) Read(p []byte) (int, error) { return r.r.Read(p) }

var expiresRE = regexp.MustCompile(`timeout (\S+) expires (\S+)`)

// TestKill9FailsClosedAndRestartRefusesSpent: kill -9 leaves the table, so the service stays
// hidden and the grant expires on the kernel's clock; a hypd restarted on the same state refuses
// the spent sequence and still accepts fresh ones.
func TestKill9FailsClosedAndRestartRefusesSpent(t *testing.T) {
	const open = 5 * time.Second
	g := newGateway(t, 4)
	l := g.lab
	uriA := g.newKey("laptop", l.GatewayIP())
	uriB := g.newKey("desktop", l.GatewayIP())
	hypd := g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", open.String())
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	attacker := probe{"attacker", l.Attacker, l.AttackerIP(), l.GatewayIP()}

	k := g.knock(l.Client, uriA)
	knockedAt := time.Now()
	waitOpen(t, client, time.Second)
	set := g.nftSet("allow4")
	m := expiresRE.FindStringSubmatch(set)
	if m == nil {
		t.Fatalf("allow4 element has no timeout/expires:\n%s", set)
	}
	timeout, err1 := time.ParseDuration(m[1])
	expires, err2 := time.ParseDuration(m[2])
	if err1 != nil || err2 != nil || timeout != open || expires <= 0 || expires > open {
		t.Fatalf("allow4 element: timeout %s expires %s; want timeout %v and 0 < expires <= it", m[1], m[2], open)
	}

	if err := hypd.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-hypd.Done()
	if _, err := l.Gateway.Output("nft", "list", "table", "inet", "hyp"); err != nil {
		t.Fatalf("table inet hyp gone after kill -9: %v", err)
	}
	assertHidden(t, attacker)
	waitOpen(t, client, 200*time.Millisecond) // the grant outlives hypd
	for time.Since(knockedAt) < open+500*time.Millisecond {
		time.Sleep(50 * time.Millisecond)
	}
	assertHidden(t, client, attacker)

	// Restart on the same state directory and replay the spent sequence exactly: same ports,
	// same window, same source.
	g.restart()
	p := parseURI(t, uriA)
	if w := p.Params.Window(time.Now().Unix()); w > k.window+1 {
		t.Fatalf("window %d is no longer acceptable at %d; the test took too long", k.window, w)
	}
	before := g.status()
	send(t, l.Client, l.ClientIP(), l.GatewayIP(), payload(p), k.ports...)
	st := g.settle(before, len(k.ports))
	assertHidden(t, client)
	// Either the spent sequence was never loaded (no completion), or it completed and was refused.
	if st.Server.Grants != 0 || (st.Detector.Completions > 0 && st.Server.ReplaysRefused == 0) {
		t.Errorf("after the replay: completions %d, replays refused %d, grants %d; want no grant", st.Detector.Completions, st.Server.ReplaysRefused, st.Server.Grants)
	}
	t.Logf("replay after restart: completions %d, replays refused %d", st.Detector.Completions, st.Server.ReplaysRefused)

	// The restarted daemon does work: a fresh key's knock opens.
	g.knock(l.Client, uriB)
	waitOpen(t, client, time.Second)
}

// TestKeyFilesAddedAndRemovedWhileRunning: the keys directory watcher takes a removed key's
// sequences out of the kernel and puts a new key's in, without a restart.
func TestKeyFilesAddedAndRemovedWhileRunning(t *testing.T) {
	g := newGateway(t, 5)
	l := g.lab
	uriA := g.newKey("laptop", l.GatewayIP())
	g.start("--services", fmt.Sprintf("tcp/%d", servicePort), "--open", "30s")
	client := probe{"client", l.Client, l.ClientIP(), l.GatewayIP()}
	loaded := g.status().Server.SequencesLoaded
	if loaded == 0 {
		t.Fatal("no sequences loaded for the key")
	}

	if err := os.Remove(filepath.Join(g.keys, "laptop.key")); err != nil {
		t.Fatal(err)
	}
	waitfor.For(t, "status showing the key removed", 5*time.Second, func() bool {
		st := g.status()
		return st.Server.SequencesLoaded == 0 && len(st.Keys) == 0
	})
	before := g.status()
	g.knock(l.Client, uriA)
	g.settle(before, parseURI(t, uriA).Params.Length)
	assertHidden(t, client)

	uriB := g.newKey("desktop", l.GatewayIP())
	waitfor.For(t, "status showing the desktop key loaded", 5*time.Second, func() bool {
		st := g.status()
		return len(st.Keys) == 1 && st.Keys[0].Name == "desktop" && st.Server.SequencesLoaded > 0
	})
	g.knock(l.Client, uriB)
	waitOpen(t, client, time.Second)
	// The grant is counted once the kernel holds it: the service may answer before the count.
	st := waitGrants(t, g, 1)
	if len(st.Grants) != 1 || st.Grants[0].Key != "desktop" || st.Grants[0].Source != l.ClientIP().String() {
		t.Errorf("grants %+v, want the desktop key's for %v alone", st.Grants, l.ClientIP())
	}
}

// waitGrants waits until hypd has counted n grants in all, and returns that status.
func waitGrants(t *testing.T, g *gateway, n uint64) control.Status {
	t.Helper()
	var st control.Status
	waitfor.For(t, fmt.Sprintf("status counting %d grants", n), 5*time.Second, func() bool {
		st = g.status()
		return st.Server.Grants >= n
	})
	if st.Server.Grants != n {
		t.Errorf("status counts %d grants, want %d", st.Server.Grants, n)
	}
	return st
}

// assertNoGrantIn fails if status lists a grant for any of sources.
func assertNoGrantIn(t *testing.T, st control.Status, sources ...netip.Addr) {
	t.Helper()
	for _, gr := range st.Grants {
		for _, src := range sources {
			if gr.Source == src.String() {
				t.Errorf("hypd granted access to %v: %+v", src, gr)
			}
		}
	}
}

func udpAddr(a netip.Addr, port uint16) *net.UDPAddr {
	return net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, port))
}

// TestSecretNewIPv6Host: an IPv6 --host may be given bare or in brackets, as it is written in a
// URI; either way the printed profile URI is one that clients can read.
func TestSecretNewIPv6Host(t *testing.T) {
	needRoot(t)
	keys := t.TempDir()
	for i, host := range []string{"fd77:1::1", "[fd77:1::1]"} {
		out, err := exec.Command(bin("hypd"), "secret", "new", fmt.Sprintf("k%d", i), "--keys", keys, "--host", host, "--no-check").Output()
		if err != nil {
			t.Fatalf("hypd secret new --host %s: %v", host, describe(err))
		}
		p, _, err := profile.Parse(strings.TrimSpace(string(out)))
		if err != nil {
			t.Errorf("hypd secret new --host %s printed a URI clients cannot read: %v", host, err)
			continue
		}
		if p.Host != "fd77:1::1" {
			t.Errorf("--host %s: URI host %q, want fd77:1::1", host, p.Host)
		}
	}
}
