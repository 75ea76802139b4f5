//go:build linux || windows

package helperipc

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestClientChecksTheServer: a client that finds the channel served by an
// account other than the helper's (on Windows: a user who made the pipe
// while the helper was stopped, as this test process does) sends nothing,
// a hand-over's key included, and says so; a client of the right account is
// served.
func TestClientChecksTheServer(t *testing.T) {
	h, addr := serveOn(t, Config{})
	c := impostorClient(t, addr)
	err := c.Add(context.Background(), HandOver{Name: "home", URI: NewSecret("hyp://10.77.1.2?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")})
	if !errors.Is(err, ErrNotHelper) || !strings.Contains(err.Error(), "served by") || !strings.Contains(err.Error(), "nothing was sent") {
		t.Fatalf("a hand-over to a server of another account: %v", err)
	}
	t.Logf("refused: %v", err)
	if _, err := c.List(context.Background()); !errors.Is(err, ErrNotHelper) {
		t.Fatalf("a list from a server of another account: %v", err)
	}
	h.mu.Lock()
	added := len(h.added)
	h.mu.Unlock()
	if added != 0 {
		t.Fatalf("the server of another account received %d hand-over(s)", added)
	}
	if _, err := testClient(addr).List(context.Background()); err != nil {
		t.Fatalf("a client of the server's account: %v", err)
	}
}
