package connect_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
)

// siteNet is a fake network of gateways by address: a gateway in open answers its check port
// once a knock with its realm reached it; one in dead never answers.
type siteNet struct {
	mu      sync.Mutex        // guards knocked, checks
	realm   map[string]string // address -> the realm its gateway has
	knocked map[string]bool   // address -> a knock of its realm arrived
	sent    []string          // "address realm" of every knock, in order
	checks  []string          // "address:port" of every check
}

func (n *siteNet) Knock(_ context.Context, p profiles.Profile, at time.Time, _ uint32) (knock.Result, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, p.Host+" "+p.Params.Realm)
	if r, ok := n.realm[p.Host]; ok && r == p.Params.Realm {
		n.knocked[p.Host] = true
	}
	return knock.Result{Target: netip.MustParseAddr(p.Host), Window: uint64(at.Unix() / 30)}, nil
}

func (n *siteNet) Check(_ context.Context, host string, port uint16) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.checks = append(n.checks, host+":"+strconv.Itoa(int(port)))
	if n.knocked[host] {
		return nil
	}
	return errors.New("i/o timeout")
}

// siteProfile is a v3 profile with three sites: two offices and a third with its own check port.
func siteProfile(t *testing.T) profiles.Profile {
	t.Helper()
	p, _, err := profile.Parse("hyp://10.77.1.1?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ&scheme=v3&realm=a&check=tcp/22")
	if err != nil {
		t.Fatal(err)
	}
	pp := profiles.FromURI("office", p)
	for _, s := range []profiles.Site{{Name: "b", Host: "10.77.2.1", Realm: "b"}, {Name: "c", Host: "10.77.3.1", Realm: "c", CheckPort: 2222}} {
		if pp, err = pp.AddSite(s, "a", false); err != nil {
			t.Fatal(err)
		}
	}
	return pp
}

// Without --site, the sites are tried in order, each knocked with its own realm and checked on
// its own check port; the first that opens is the one connected, the steps say which, and no
// site after it is knocked. A site that fails does not end the flow.
func TestSitesFirstThatOpens(t *testing.T) {
	n := &siteNet{realm: map[string]string{"10.77.1.1": "a", "10.77.2.1": "b", "10.77.3.1": "c"}, knocked: map[string]bool{}}
	// Site a is down: its address knocks nothing open (another realm answers there now).
	n.realm["10.77.1.1"] = "elsewhere"
	rec := newRecorder()
	c := &connect.Connector{Knocker: n, Checker: n, Clock: newClock(true), State: &knockstate.Memory{}, CheckWait: 50 * time.Millisecond}
	if err := c.KnockOnly(context.Background(), siteProfile(t), rec.add); err != nil {
		t.Fatal(err)
	}
	if want := []string{"10.77.1.1 a", "10.77.1.1 a", "10.77.2.1 b"}; !slices.Equal(n.sent, want) {
		t.Errorf("knocks %v; want site a twice (knock, retry) with realm a, then site b with realm b, and not c", n.sent)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	last := rec.steps[len(rec.steps)-1]
	if last.Kind != connect.Connected || last.Site != "b" || !strings.Contains(last.Message, "site b answered") {
		t.Errorf("last step %+v; want Connected naming site b", last)
	}
	for _, s := range rec.steps {
		if s.Kind == connect.Failed {
			t.Errorf("a Failed step although a later site opened: %v", s)
		}
		if strings.Contains(s.Message, "trying site b") && s.Site != "a" {
			t.Errorf("step %v: want it marked as site a's", s)
		}
	}
}

// A site's own check port is the one checked there.
func TestSiteCheckPort(t *testing.T) {
	n := &siteNet{realm: map[string]string{"10.77.3.1": "c"}, knocked: map[string]bool{}}
	p, err := siteProfile(t).OnlySite("c")
	if err != nil {
		t.Fatal(err)
	}
	c := &connect.Connector{Knocker: n, Checker: n, Clock: newClock(true), State: &knockstate.Memory{}, CheckWait: 50 * time.Millisecond}
	if err := c.KnockOnly(context.Background(), p, nil); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.sent, []string{"10.77.3.1 c"}) || !slices.Contains(n.checks, "10.77.3.1:2222") {
		t.Errorf("knocks %v, checks %v; want site c only, checked on tcp/2222", n.sent, n.checks)
	}
}

// --site names the one site to knock; no other is tried, even when it fails.
func TestOnlySiteKnocksOnlyIt(t *testing.T) {
	n := &siteNet{realm: map[string]string{"10.77.1.1": "a", "10.77.2.1": "b"}, knocked: map[string]bool{}}
	p, err := siteProfile(t).OnlySite("b")
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	c := &connect.Connector{Knocker: n, Checker: n, Clock: newClock(true), State: &knockstate.Memory{}, CheckWait: 50 * time.Millisecond}
	if err := c.KnockOnly(context.Background(), p, rec.add); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(n.sent, []string{"10.77.2.1 b"}) {
		t.Errorf("knocks %v; want site b only", n.sent)
	}
	if _, err := siteProfile(t).OnlySite("z"); err == nil || !strings.Contains(err.Error(), "its sites are a, b, c") {
		t.Errorf("unknown site: %v", err)
	}
}

// When no site opens the flow fails once, naming every site's reason.
func TestNoSiteOpens(t *testing.T) {
	n := &siteNet{realm: map[string]string{}, knocked: map[string]bool{}}
	rec := newRecorder()
	c := &connect.Connector{Knocker: n, Checker: n, Clock: newClock(true), State: &knockstate.Memory{}, CheckWait: 50 * time.Millisecond}
	err := c.KnockOnly(context.Background(), siteProfile(t), rec.add)
	if err == nil {
		t.Fatal("no site answers, yet KnockOnly succeeded")
	}
	for _, w := range []string{"no site of office opened", "site a: ", "site b: ", "site c: "} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	failed := 0
	for _, s := range rec.kinds() {
		if s == connect.Failed {
			failed++
		}
	}
	if failed != 2 { // site c's own, the last tried, and the summary
		t.Errorf("%d Failed steps; want 2 (the last site's and the summary)", failed)
	}
}

// An HA pair whose members have a realm each, behind one address: after a failover the first
// site's knocks go to the member of the other realm and open nothing; the second site still has
// its knock (the knock state keeps each realm's uses apart) and opens.
func TestSitesOfOneAddress(t *testing.T) {
	n := &siteNet{realm: map[string]string{"10.77.9.1": "vpn-b"}, knocked: map[string]bool{}}
	p, _, err := profile.Parse("hyp://10.77.9.1?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ&scheme=v3&realm=vpn-a&check=tcp/22")
	if err != nil {
		t.Fatal(err)
	}
	pp, err := profiles.FromURI("vpn", p).AddSite(profiles.Site{Name: "b", Host: "10.77.9.1", Realm: "vpn-b"}, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	c := &connect.Connector{Knocker: n, Checker: n, Clock: newClock(true), State: &knockstate.Memory{}, CheckWait: 50 * time.Millisecond}
	if err := c.KnockOnly(context.Background(), pp, nil); err != nil {
		t.Fatalf("the second member did not get its knock: %v", err)
	}
	if want := []string{"10.77.9.1 vpn-a", "10.77.9.1 vpn-a", "10.77.9.1 vpn-b"}; !slices.Equal(n.sent, want) {
		t.Errorf("knocks %v; want %v", n.sent, want)
	}
}
