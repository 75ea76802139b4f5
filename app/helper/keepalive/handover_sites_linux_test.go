package keepalive_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/helperipc"
	"github.com/hideyourports/hyp/app/profiles"
)

// TestIPCHandOverKeepsSites: a profile with sites handed over keeps them in the helper's store
// (the URI carries only the first), so the helper knocks them in order as hyp connect does; a
// bad site is refused and nothing is stored.
func TestIPCHandOverKeepsSites(t *testing.T) {
	h := startIPCHelper(t, helperipc.Config{})
	home := testProfile(t, "home")
	home.Command = nil
	sites := []helperipc.Site{{Name: "a", Host: home.Host}, {Name: "b", Host: "10.77.99.1", Check: 2222}}
	ho := helperipc.HandOver{Name: "home", URI: helperipc.NewSecret(home.URI()), KeepAlive: 30 * time.Second, Sites: sites}
	if err := h.client().Add(context.Background(), ho); err != nil {
		t.Fatal(err)
	}
	all, err := h.store.List()
	if err != nil {
		t.Fatal(err)
	}
	want := []profiles.Site{{Name: "a", Host: home.Host}, {Name: "b", Host: "10.77.99.1", CheckPort: 2222}}
	i := slices.IndexFunc(all, func(p profiles.Profile) bool { return p.Name == "home" })
	if i < 0 || !slices.Equal(all[i].SiteList, want) {
		t.Fatalf("the helper stored home with sites %+v; want %+v", all, want)
	}

	bad := ho
	bad.Name, bad.Sites = "bad", []helperipc.Site{{Name: "a", Host: "10.77.99.1"}, {Name: "a", Host: "10.77.99.2"}}
	if err := h.client().Add(context.Background(), bad); err == nil {
		t.Fatal("a hand-over with a site named twice was stored")
	}
	if all, _ := h.store.List(); slices.ContainsFunc(all, func(p profiles.Profile) bool { return p.Name == "bad" }) {
		t.Fatal("the refused hand-over is in the store")
	}
}
