package helper_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/core/knock"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
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

func TestStorePermissions(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "etc", "hyp", "helper")
	s := helper.Store{Dir: dir}
	if all, err := s.List(); err != nil || len(all) != 0 {
		t.Fatalf("missing store: %v %v", all, err)
	}
	p := testProfile(t, "office")
	if err := s.Add(p, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(p, false); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Add: %v", err)
	}
	if err := s.Add(testProfile(t, "home"), false); err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(dir)
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("store mode %o, want 700", st.Mode().Perm())
	}
	for _, n := range []string{"office", "home"} {
		if st, err := os.Stat(s.Path(n)); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want 0600", n, st, err)
		}
	}
	all, err := s.List()
	if err != nil || len(all) != 2 || all[0].Name != "home" || all[1].Name != "office" {
		t.Fatalf("List: %v %v", all, err)
	}
	got := all[1]
	if !got.Key.Equal(p.Key) || got.KeepAlive != p.KeepAlive || strings.Join(got.Command, " ") != "/usr/bin/wg-quick up office" || got.CheckPort != 443 || !got.AlwaysOn {
		t.Fatalf("read back %+v", got)
	}

	// A file others can read is refused, naming it and the fix.
	os.Chmod(s.Path("office"), 0o644)
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), s.Path("office")) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("List with a 0644 file: %v", err)
	}
	os.Chmod(s.Path("office"), 0o600)
	os.Chmod(dir, 0o755)
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), "mode 0755") {
		t.Fatalf("List with a 0755 store: %v", err)
	}
	// Add puts the mode right again.
	if err := s.Add(p, true); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Fatal("Add did not re-secure the store")
	}
	if err := s.Remove("office"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove("office"); !errors.Is(err, profiles.ErrNotFound) {
		t.Fatalf("second Remove: %v", err)
	}
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
	s := helper.Store{Dir: filepath.Join(t.TempDir(), "helper")}
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
	r := &helper.Runner{
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
	r := &helper.Runner{Store: helper.Store{Dir: filepath.Join(t.TempDir(), "none")}}
	if err := r.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "hyp helper add") {
		t.Fatalf("empty store: %v", err)
	}
}

// TestRunStops: Run runs the helper until its context ends (the service's stop); the VPN
// command is stopped and Run returns within seconds, with no error.
func TestRunStops(t *testing.T) {
	needRoot(t)
	s := helper.Store{Dir: filepath.Join(t.TempDir(), "helper")}
	mark := filepath.Join(t.TempDir(), "ran")
	p := testProfile(t, "a")
	p.CheckPort = 0
	p.Command = []string{"sh", "-c", "echo up > " + mark + "; exec sleep 600"}
	if err := s.Add(p, false); err != nil {
		t.Fatal(err)
	}
	r := &helper.Runner{
		Store:     s,
		Connector: &connect.Connector{Knocker: &countKnocker{counts: map[string]int{}, enough: 1 << 30, cancel: func() {}}, Checker: okChecker{}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- helper.Run(ctx, helper.Config{Dir: s.Dir}, r, false) }()
	waitfor.For(t, "the VPN command to run", 10*time.Second, func() bool {
		_, err := os.Stat(mark)
		return err == nil
	})
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after its context ended: %v", err)
		}
	case <-time.After(helper.StopTimeout):
		t.Fatal("Run did not return after its context ended")
	}
	t.Logf("stopped in %v", time.Since(start))
}

// TestRunFailsOnEmptyStore: a helper with nothing to do returns at once with an error saying
// so (the service then stops with an error), instead of running idle.
func TestRunFailsOnEmptyStore(t *testing.T) {
	needRoot(t)
	dir := filepath.Join(t.TempDir(), "helper")
	var logged []string
	r := &helper.Runner{Store: helper.Store{Dir: dir}, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	err := helper.Run(context.Background(), helper.Config{Dir: dir}, r, false)
	if err == nil || !strings.Contains(err.Error(), "holds no profiles") {
		t.Fatalf("Run on an empty store: %v", err)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "helper stopped") {
		t.Fatalf("logged %q, want the reason it stopped", logged)
	}
}
