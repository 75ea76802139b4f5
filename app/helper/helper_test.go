package helper_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	"github.com/hideyourports/hyp/app/helper"
	"github.com/hideyourports/hyp/app/helper/keepalive"
	"github.com/hideyourports/hyp/app/helper/store"
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

// stillKnocker answers every knock; the test stops the helper itself.
type stillKnocker struct{}

func (stillKnocker) Knock(context.Context, profiles.Profile, time.Time, uint32) (knock.Result, error) {
	return knock.Result{Target: netip.MustParseAddr("192.0.2.7")}, nil
}

type okChecker struct{}

func (okChecker) Check(context.Context, string, uint16) error { return nil }

// TestRunStops: Run runs the helper until its context ends (the service's stop); the VPN
// command is stopped and Run returns within seconds, with no error.
func TestRunStops(t *testing.T) {
	needRoot(t)
	s := store.Store{Dir: filepath.Join(t.TempDir(), "helper")}
	mark := filepath.Join(t.TempDir(), "ran")
	p := testProfile(t, "a")
	p.CheckPort = 0
	p.Command = []string{"sh", "-c", "echo up > " + mark + "; exec sleep 600"}
	if err := s.Add(p, false); err != nil {
		t.Fatal(err)
	}
	r := &keepalive.Runner{
		Store:     s,
		Connector: &connect.Connector{Knocker: stillKnocker{}, Checker: okChecker{}},
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
	r := &keepalive.Runner{Store: store.Store{Dir: dir}, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	err := helper.Run(context.Background(), helper.Config{Dir: dir}, r, false)
	if err == nil || !strings.Contains(err.Error(), "holds no profiles") {
		t.Fatalf("Run on an empty store: %v", err)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "helper stopped") {
		t.Fatalf("logged %q, want the reason it stopped", logged)
	}
}
