package keepalive_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper/keepalive"
	"github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/internal/testkit/needs"
)

const uri = "hyp://192.0.2.7?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ&check=tcp/443"

func needRoot(t testing.TB) {
	t.Helper()
	needs.Root(t, "the helper store is root-only")
}

func testProfile(t testing.TB, name string) profiles.Profile {
	t.Helper()
	cp, _, err := profile.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	p := profiles.FromURI(name, cp)
	p.KeepAlive = 30 * time.Second
	p.Command = []string{"/usr/bin/wg-quick", "up", name}
	return p
}

// countKnocker counts knocks per profile and cancels after enough.
type countKnocker struct {
	mu     sync.Mutex // guards counts
	counts map[string]int
	enough int
	cancel context.CancelFunc
}

func (k *countKnocker) Knock(ctx context.Context, p profiles.Profile, at time.Time, counter uint32) (knock.Result, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.counts[p.Name]++
	done := true
	for _, n := range k.counts {
		done = done && n >= k.enough
	}
	if done && len(k.counts) == 2 {
		k.cancel()
	}
	return knock.Result{Target: netip.MustParseAddr("192.0.2.7")}, nil
}

// autoClock fires every timer at once, moving time forward.
type autoClock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

func (c *autoClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *autoClock) After(d time.Duration) (<-chan time.Time, func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch, func() {}
}

type okChecker struct{}

func (okChecker) Check(context.Context, string, uint16) error { return nil }

func TestRunnerKeepsEveryProfileAlive(t *testing.T) {
	needRoot(t)
	s := store.Store{Dir: filepath.Join(t.TempDir(), "helper")}
	for _, n := range []string{"a", "b"} {
		p := testProfile(t, n)
		p.Command = nil
		if err := s.Add(p, false); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := &countKnocker{counts: map[string]int{}, enough: 5, cancel: cancel}
	var logMu sync.Mutex
	var logs []string
	r := &keepalive.Runner{
		Store:     s,
		Connector: &connect.Connector{Knocker: k, Checker: okChecker{}, Clock: &autoClock{now: time.Unix(1795000000, 0)}},
		Logf: func(f string, a ...any) {
			logMu.Lock()
			logs = append(logs, f)
			logMu.Unlock()
		},
	}
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the runner did not stop after cancel")
	}
	if k.counts["a"] < 5 || k.counts["b"] < 5 {
		t.Fatalf("knocks %v, want at least 5 each", k.counts)
	}
	// The helper keeps its own knock state in its store, root only.
	if fi, err := os.Stat(s.StatePath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the helper's knock state %s: %v, %v", s.StatePath(), fi, err)
	}
	if ps, err := s.List(); err != nil || len(ps) != 2 {
		t.Fatalf("the store with its knock state lists %d profiles, %v", len(ps), err)
	}
}

func TestRunnerEmptyStore(t *testing.T) {
	needRoot(t)
	r := &keepalive.Runner{Store: store.Store{Dir: filepath.Join(t.TempDir(), "none")}}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "hyp helper add") {
		t.Fatalf("empty store: %v", err)
	}
}
