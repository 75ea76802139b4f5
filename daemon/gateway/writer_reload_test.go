package gateway

import (
	"context"
	"errors"
	"github.com/hideyourports/hyp/daemon/protected"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/hideyourports/hyp/daemon/config"
)

// hypd reload over the control socket is SIGHUP's reload with an answer: when Reload returns,
// the new protection is in place; a configuration that does not load is refused with its
// reason and the running one stays.
func TestReloadOnRequestAnswersAfterThePass(t *testing.T) {
	wd := &world{t: t}
	cfg := config.Default()
	w := newTestWriter(t, wd, cfg)
	var mu sync.Mutex // guards next and nextErr
	next, nextErr := w.cfg, error(nil)
	w.loadConfig = func() (config.Config, error) {
		mu.Lock()
		defer mu.Unlock()
		return next, nextErr
	}
	wd.setKeys(testKey(t, "laptop", "tcp/22"))
	if err := w.apply(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.run(ctx, nil)

	svc, _ := protected.ParseService("tcp/8443")
	mu.Lock()
	next.Services = []protected.Service{svc}
	mu.Unlock()
	applied, restart, err := w.Reload(ctx)
	if err != nil || !slices.Contains(applied, "services, public, stealth") || len(restart) != 0 {
		t.Fatalf("reload: applied %v, restart %v, err %v", applied, restart, err)
	}
	wd.mu.Lock()
	in := slices.Contains(wd.protected, svc)
	wd.mu.Unlock()
	if !in {
		t.Fatal("tcp/8443 not protected when Reload returned")
	}

	mu.Lock()
	nextErr = errors.New("hypd.toml:3: bad")
	mu.Unlock()
	if _, _, err := w.Reload(ctx); err == nil || !strings.Contains(err.Error(), "hypd.toml:3: bad") || !strings.Contains(err.Error(), "last good one") {
		t.Fatalf("reload of a bad config: %v", err)
	}
	if w.snapshot().configProblem == "" {
		t.Fatal("a refused reload is not in the status")
	}
	cancel()
	<-w.stopped
	if _, _, err := w.Reload(context.Background()); err == nil {
		t.Fatal("reload of a stopped writer succeeded")
	}
}
