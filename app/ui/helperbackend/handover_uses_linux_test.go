package helperbackend_test

import (
	"context"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/connect"
	helperstore "github.com/hideyourports/hyp/app/helper/store"
	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/knockstate"
	"github.com/hideyourports/hyp/app/profiles"
	"github.com/hideyourports/hyp/app/ui/corebackend"
	"github.com/hideyourports/hyp/app/ui/helperbackend"
	"github.com/hideyourports/hyp/core/profile"
	"github.com/hideyourports/hyp/core/psk"
	"github.com/hideyourports/hyp/core/sequence"
)

// TestRunAsServiceKeepsUses: a profile the tray hands to the running helper (as root, over the
// channel) keeps its uses, as 'hyp helper add' into the store keeps it. Without it the helper
// knocks a key the gateway accepts several times a step as a one-use key.
func TestRunAsServiceKeepsUses(t *testing.T) {
	h := startHelper(t)
	store, err := profiles.Open(profiles.Options{Dir: t.TempDir(), Secrets: profiles.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := psk.Generate()
	home := profiles.FromURI("home", profile.Profile{Host: "127.0.0.1", Key: k, Params: sequence.Defaults()})
	home.KeepAlive, home.Uses, home.Gap = 30*time.Second, 4, 20*time.Millisecond
	if err := store.Put(home, false); err != nil {
		t.Fatal(err)
	}
	b := &helperbackend.Backend{
		Backend: corebackend.New(store, &connect.Connector{State: &knockstate.Memory{}}),
		Store:   store,
		Client:  &helperipc.Client{Address: h.addr},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.RunAsService(ctx, "home"); err != nil {
		t.Fatal(err)
	}
	all, err := (helperstore.Store{Dir: h.store}).List()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Name != "home" {
			continue
		}
		if p.Uses != 4 || p.KeepAlive != 30*time.Second || p.Gap != 20*time.Millisecond || !p.Key.Equal(k) {
			t.Fatalf("the helper stored home with uses %d, keep-alive %v, gap %v (key kept %v); want 4, 30s, 20ms",
				p.Uses, p.KeepAlive, p.Gap, p.Key.Equal(k))
		}
		return
	}
	t.Fatalf("the helper's store has no home after the hand-over: %d profiles", len(all))
}
