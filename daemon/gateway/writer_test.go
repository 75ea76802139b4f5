package gateway

import (
	"context"
	"errors"
	"fmt"
	"github.com/hideyourports/hyp/daemon/protected"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/daemon/config"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// world records, in one order, every call the writer makes into the kernel-facing fakes, and
// checks the gateway's rule on each: no key's sequences are loaded while a service it names is
// not in what the firewall last accepted to protect.
type world struct {
	t  *testing.T
	mu sync.Mutex // guards everything below

	protected  []protected.Service // what the firewall last accepted
	failFW     error               // the next Reconfigure fails with this
	calls      []string
	violations []string
	keySets    int
	refreshes  int
	keys       []config.Key // what loadKeys returns
}

func (w *world) Reconfigure(hidden, public []protected.Service, stealth bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, "firewall")
	if w.failFW != nil {
		err := w.failFW
		w.failFW = nil
		return err
	}
	w.protected = slices.Clone(hidden)
	return nil
}

func (w *world) SetUDPServices(ports []uint16) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, "detector")
	return nil
}

func (w *world) SetKnockTimeout(time.Duration) error { return nil }

func (w *world) SetKeys(keys []config.Key) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, "sequences")
	w.keySets++
	for _, k := range keys {
		for _, s := range k.Services {
			if !slices.Contains(w.protected, s) {
				w.violations = append(w.violations, fmt.Sprintf("key %s loaded while %s is not protected (protected: %v)", k.Name, s, w.protected))
			}
		}
	}
	return nil
}

func (w *world) Refresh() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.refreshes++
	return nil
}

func (w *world) NextBoundary(now time.Time) time.Time { return now.Add(time.Hour) }

func (w *world) loadKeys(config.Config) ([]config.Key, []error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.keys), nil
}

func (w *world) setKeys(keys ...config.Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.keys = keys
}

func (w *world) check() {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		w.t.Error(v)
	}
}

func testKey(t *testing.T, name string, svcs ...string) config.Key {
	t.Helper()
	s, err := psk.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k := config.Key{Name: name, Secret: s}
	for _, v := range svcs {
		sv, err := protected.ParseService(v)
		if err != nil {
			t.Fatal(err)
		}
		k.Services = append(k.Services, sv)
	}
	return k
}

func newTestWriter(t *testing.T, wd *world, cfg config.Config) *writer {
	cfg.StateDir = t.TempDir()
	return newWriter(&writer{
		log: slog.New(slog.NewTextHandler(io.Discard, nil)), fw: wd, det: wd, srv: wd,
		loadKeys: wd.loadKeys, cfg: cfg,
	})
}

// One pass applies firewall, then detector services, then sequences, in that order.
func TestPassOrderIsFirewallDetectorSequences(t *testing.T) {
	wd := &world{t: t}
	wd.setKeys(testKey(t, "laptop", "tcp/22"))
	w := newTestWriter(t, wd, config.Default())
	if err := w.apply(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"firewall", "detector", "sequences"}; !slices.Equal(wd.calls, want) {
		t.Fatalf("calls %v, want %v", wd.calls, want)
	}
	wd.check()
}

// A firewall that refuses the change keeps the new key's sequences out; the retry loads them
// once the service is protected.
func TestKeysWaitForTheirProtection(t *testing.T) {
	wd := &world{t: t}
	w := newTestWriter(t, wd, config.Default())
	if err := w.apply(); err != nil {
		t.Fatal(err)
	}
	wd.setKeys(testKey(t, "laptop", "tcp/22"), testKey(t, "phone", "udp/51820"))
	wd.mu.Lock()
	wd.failFW = errors.New("netlink: no buffer space")
	wd.mu.Unlock()
	if err := w.apply(); err == nil {
		t.Fatal("a pass whose firewall change failed reported success")
	}
	wd.mu.Lock()
	sets := wd.keySets
	wd.mu.Unlock()
	if sets != 1 {
		t.Fatalf("the keys were loaded after the firewall refused to protect their services (%d key sets)", sets)
	}
	if err := w.apply(); err != nil {
		t.Fatal(err)
	}
	wd.check()
}

// Key changes, reloads, unprotect requests and time steps arrive from many goroutines at once
// (issue #18 item 4: a stale protection computed by one could be applied after a newer one and
// drop a just-loaded key's service). They are events into one goroutine now; whatever their
// interleaving, no key is ever loaded unprotected, and the final protection names every key.
func TestConcurrentEventsNeverLoadAKeyUnprotected(t *testing.T) {
	wd := &world{t: t}
	cfg := config.Default()
	w := newTestWriter(t, wd, cfg)
	reloads := make(chan struct{})
	w.loadConfig = func() (config.Config, error) { return w.cfg, nil }
	if err := w.apply(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.run(ctx, reloads); close(done) }()

	var wg sync.WaitGroup
	const rounds = 200
	wg.Go(func() {
		for i := range rounds {
			keys := []config.Key{testKey(t, "base", "tcp/22")}
			keys = append(keys, testKey(t, fmt.Sprintf("k%d", i), fmt.Sprintf("tcp/%d", 10000+i)))
			wd.setKeys(keys...)
			w.KeysChanged()
		}
	})
	wg.Go(func() {
		for range rounds / 4 {
			select {
			case reloads <- struct{}{}:
			case <-ctx.Done():
			}
		}
	})
	wg.Go(func() {
		for i := range rounds / 4 {
			// Mostly refused (named by a key); what is kept and unnamed may go.
			_ = w.Unprotect(ctx, fmt.Sprintf("tcp/%d", 10000+i))
		}
	})
	wg.Wait()
	// A last key change, then the state must settle on it.
	last := testKey(t, "last", "udp/4500")
	wd.setKeys(testKey(t, "base", "tcp/22"), last)
	w.KeysChanged()
	waitfor.Until(5*time.Second, func() bool {
		s := w.snapshot()
		return slices.ContainsFunc(s.origins, func(o Origin) bool { return slices.Contains(o.From, "key last") })
	})
	cancel()
	<-done
	wd.check()
	wd.mu.Lock()
	defer wd.mu.Unlock()
	for _, s := range []string{"tcp/22", "udp/4500"} {
		sv, _ := protected.ParseService(s)
		if !slices.Contains(wd.protected, sv) {
			t.Errorf("%s is not protected at the end: %v", s, wd.protected)
		}
	}
}

// unprotect gives up only what nothing names; what a key names is refused with the reason.
func TestUnprotectOnlyWhatNothingNames(t *testing.T) {
	wd := &world{t: t}
	cfg := config.Default()
	w := newTestWriter(t, wd, cfg)
	old, _ := protected.ParseService("tcp/2222")
	w.kept = []protected.Service{old}
	wd.setKeys(testKey(t, "laptop", "tcp/22"))
	if err := w.apply(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.run(ctx, nil)
	if err := w.Unprotect(ctx, "tcp/22"); err == nil || !strings.Contains(err.Error(), "named by key laptop") {
		t.Errorf("unprotect of a key's service = %v", err)
	}
	if err := w.Unprotect(ctx, "tcp/2222"); err != nil {
		t.Fatal(err)
	}
	wd.mu.Lock()
	defer wd.mu.Unlock()
	if slices.Contains(wd.protected, old) {
		t.Errorf("tcp/2222 still protected after unprotect: %v", wd.protected)
	}
	if err := w.Unprotect(context.Background(), "nonsense"); err == nil {
		t.Error("unprotect of a bad service name succeeded")
	}
}
