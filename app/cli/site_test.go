package cli_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/sequence"
)

const (
	siteURIa = "hyp://192.0.2.1?secret=" + secret + "&scheme=v3&realm=a&check=tcp/443"
	siteURIb = "hyp://192.0.2.2?secret=" + secret + "&scheme=v3&realm=b&check=tcp/443"
)

// answerOnly is a Dial that connects to one address only: the gateway that opened.
type answerOnly struct {
	addr  string
	mu    sync.Mutex // guards dials
	dials []string
}

func (a *answerOnly) dial(_ context.Context, _, address string) (net.Conn, error) {
	a.mu.Lock()
	a.dials = append(a.dials, address)
	a.mu.Unlock()
	if address == a.addr {
		c1, c2 := net.Pipe()
		c2.Close()
		return c1, nil
	}
	return nil, errors.New("i/o timeout")
}

// hyp site add takes a second gateway from the URI its hypd printed for the same key, lists
// the sites in order and removes one; hyp connect then knocks the sites in order with their own
// realms, says which site opened, and --site knocks only the one named. The settings file holds
// no key, and the keyring entry is the profile's one, as before sites.
func TestSiteCommandsAndConnect(t *testing.T) {
	mem := profiles.NewMemory()
	env, dir := storeEnv(t, mem)
	if code, out, errOut := run(t, env, "profile", "add", "office", siteURIa); code != 0 {
		t.Fatalf("profile add: %d %q %q", code, out, errOut)
	}
	code, out, errOut := run(t, env, "site", "add", "office", "b", siteURIb, "--first", "a")
	if code != 0 || !strings.Contains(out, `site b added (192.0.2.2, realm "b")`) {
		t.Fatalf("site add: %d %q %q", code, out, errOut)
	}
	code, out, _ = run(t, env, "site", "list", "office")
	if code != 0 || !strings.Contains(out, "1. a\t192.0.2.1, realm \"a\"") || !strings.Contains(out, "2. b\t192.0.2.2, realm \"b\"") {
		t.Fatalf("site list: %d %q", code, out)
	}
	grepDir(t, dir, secret[:16])
	code, out, _ = run(t, env, "profile", "show", "office")
	if code != 0 || !strings.Contains(out, "site 1:     a (192.0.2.1, realm \"a\")") || !strings.Contains(out, "site 2:     b (192.0.2.2, realm \"b\")") {
		t.Errorf("profile show: %d %q", code, out)
	}
	// A URI with another key, or other knock settings, is not a site of this profile.
	other := strings.Replace(siteURIb, secret, "B"+secret[1:], 1)
	if code, _, errOut := run(t, env, "site", "add", "office", "c", other); code != 2 || !strings.Contains(errOut, "another key") {
		t.Errorf("another key: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, env, "site", "add", "office", "c", siteURIb+"&length=3"); code != 2 || !strings.Contains(errOut, "differs from its profile only in host, realm and check port") {
		t.Errorf("other length: %d %q", code, errOut)
	}
	if code, _, errOut := run(t, env, "site", "add", "office", "c", "--host", "192.0.2.3"); code != 2 || !strings.Contains(errOut, "--realm is missing") {
		t.Errorf("v3 site without a realm: %d %q", code, errOut)
	}

	// Site a does not answer; b does, after the knock of realm b.
	fn := &fakeNet{}
	dial := &answerOnly{addr: "192.0.2.2:443"}
	env.Listen, env.Dial, env.KnockState = fn.listen, dial.dial, &knockstate.Memory{}
	// A clock that moves (a millisecond a look) but stays in fixedNow's time step: the check's
	// deadline passes, and the knocks are the ones of that step.
	var clockMu sync.Mutex
	ticks := 0
	env.Now = func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		ticks++
		return fixedNow.Add(time.Duration(ticks) * time.Millisecond)
	}
	code, out, errOut = run(t, env, "connect", "office", "--knock-only", "--check-wait", "20ms")
	if code != 0 || !strings.Contains(out, "site b answered: 192.0.2.2 is open") {
		t.Fatalf("connect: %d\n%s\n%s", code, out, errOut)
	}
	p, _, err := profile.Parse(siteURIa)
	if err != nil {
		t.Fatal(err)
	}
	tagsOf := func(realm string) [][]byte {
		c, err := sequence.At(p.Key, sequence.V3Defaults(realm), fixedNow.Unix(), 0)
		if err != nil {
			t.Fatal(err)
		}
		var out [][]byte
		for _, tag := range c.Tags {
			out = append(out, []byte{byte(tag >> 56), byte(tag >> 48), byte(tag >> 40), byte(tag >> 32), byte(tag >> 24), byte(tag >> 16), byte(tag >> 8), byte(tag)})
		}
		return out
	}
	var toB [][]byte
	var hosts []string
	for _, c := range fn.conns {
		for i, d := range c.dsts {
			if len(hosts) == 0 || hosts[len(hosts)-1] != d.Addr().String() {
				hosts = append(hosts, d.Addr().String())
			}
			if d.Addr() == netip.MustParseAddr("192.0.2.2") {
				toB = append(toB, c.payloads[i])
			}
		}
	}
	if !slices.Equal(hosts, []string{"192.0.2.1", "192.0.2.2"}) {
		t.Errorf("knocked %v; want site a, then site b", hosts)
	}
	if want := tagsOf("b"); !slices.EqualFunc(toB, want, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Errorf("site b was knocked with tags %x; want realm b's %x", toB, want)
	}

	// --site a: only a, which does not answer: exit 1, and b is never knocked.
	fn2 := &fakeNet{}
	env.Listen, env.KnockState = fn2.listen, &knockstate.Memory{}
	code, _, _ = run(t, env, "connect", "office", "--site", "a", "--knock-only", "--check-wait", "20ms")
	if code != 1 {
		t.Errorf("--site a: exit %d, want 1", code)
	}
	for _, c := range fn2.conns {
		for _, d := range c.dsts {
			if d.Addr() != netip.MustParseAddr("192.0.2.1") {
				t.Errorf("--site a knocked %v", d)
			}
		}
	}
	if code, _, errOut := run(t, env, "connect", "office", "--site", "z", "--knock-only"); code != 2 || !strings.Contains(errOut, "its sites are a, b") {
		t.Errorf("--site z: %d %q", code, errOut)
	}

	if code, out, _ := run(t, env, "site", "remove", "office", "a"); code != 0 || !strings.Contains(out, "site a removed") {
		t.Errorf("site remove: %d %q", code, out)
	}
	s, _ := env.Profiles()
	got, err := s.Get("office")
	if err != nil || got.Host != "192.0.2.2" || got.Params.Realm != "b" || len(got.SiteList) != 1 {
		t.Errorf("after removing a: host %s realm %q sites %v, %v", got.Host, got.Params.Realm, got.SiteList, err)
	}
	if _, err := os.Stat(s.Path()); err != nil {
		t.Fatal(err)
	}
}
