package keepalive_test

import (
	"context"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/helperipc"
)

// TestIPCHandOverKeepsUses: the helper stores a handed-over profile with the uses it was
// handed, as a direct store add does, and keeps it alive with them.
func TestIPCHandOverKeepsUses(t *testing.T) {
	h := startIPCHelper(t, helperipc.Config{})
	home := testProfile(t, "home")
	home.Command = nil
	ho := helperipc.HandOver{Name: "home", URI: helperipc.NewSecret(home.URI()), KeepAlive: 30 * time.Second, Uses: 5}
	if err := h.client().Add(context.Background(), ho); err != nil {
		t.Fatal(err)
	}
	all, err := h.store.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Name == "home" {
			if p.Uses != 5 || p.KeepAlive != 30*time.Second {
				t.Fatalf("the helper stored home with uses %d, keep-alive %v; want 5, 30s", p.Uses, p.KeepAlive)
			}
			return
		}
	}
	t.Fatalf("home is not in the helper's store after the hand-over (%d profiles)", len(all))
}
