package keepalive_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/hideyourports/hyp/app/helperipc"
)

// TestIPCHiddenCommandStaysHidden: a profile's command is root's ("users see that a profile
// runs one, not which": the argv may carry a token or a path worth hiding), so nothing a
// non-administrator reads over the channel may name it: not the command field, and not the
// status sentence or the last error, which repeat the step messages ("started
// /usr/bin/wg-quick up office").
func TestIPCHiddenCommandStaysHidden(t *testing.T) {
	if addr := os.Getenv("HYP_IPC_HIDDEN_ADDR"); addr != "" {
		status, raw := rawExchange(t, addr, http.MethodGet, helperipc.PathProfiles, "")
		b, _ := json.Marshal(map[string]string{"status": http.StatusText(status), "raw": raw})
		os.Stdout.Write(append(b, '\n'))
		return
	}
	h := startIPCHelper(t, helperipc.Config{Group: "hyp-no-such-group", Mode: 0o666, UIDs: []int{65534}})
	h.checker.open.Store(true)
	c := h.client()
	if err := c.Connect(context.Background(), "office", nil); err != nil {
		t.Fatalf("connect as root: %v", err)
	}
	waitState(t, c, "connected", func(p helperipc.ProfileState) bool { return p.Connected })

	got := asNobody(t, "^TestIPCHiddenCommandStaysHidden$", "HYP_IPC_HIDDEN_ADDR="+h.addr)
	if got["status"] != http.StatusText(http.StatusOK) {
		t.Fatalf("list as nobody (a listed uid): %v", got)
	}
	if !strings.Contains(got["raw"], helperipc.HiddenCommand) {
		t.Fatalf("the list as nobody does not say the command is hidden: %s", got["raw"])
	}
	for _, part := range []string{"wg-quick", "up office"} {
		if strings.Contains(got["raw"], part) {
			t.Errorf("the list a user gets names the hidden command (%q): %s", part, got["raw"])
		}
	}
}
