package helperipc

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// leakyHandler is a Handler whose every text names its profile's command, as the helper's did
// ("started /usr/bin/wg-quick up office"): what the server's view must cut out for users.
type leakyHandler struct{}

var leakyCommand = []string{"/usr/bin/wg-quick", "up", "office", "--token=tok-s3cr3t"}

func (leakyHandler) Profiles() []ProfileState {
	return []ProfileState{{Name: "office", Host: "10.77.1.1", Command: append([]string(nil), leakyCommand...),
		Status:    "started /usr/bin/wg-quick up office --token=tok-s3cr3t",
		LastError: `could not start the VPN command "/usr/bin/wg-quick": fork/exec /usr/bin/wg-quick: permission denied`},
		{Name: "branch", Host: "10.77.1.2", Command: []string{`C:\Program Files\Secret VPN\secretvpn.exe`, "/connect"},
			LastError: `exec: "C:\\Program Files\\Secret VPN\\secretvpn.exe": the requested operation requires elevation`}}
}

func (leakyHandler) Connect(_ context.Context, name string, progress func(Step)) error {
	if name == "early" {
		return errors.New(`exec: "wg-quick": executable file not found in $PATH`)
	}
	progress(Step{Kind: "launched", Message: "started /usr/bin/wg-quick up office --token=tok-s3cr3t"})
	progress(Step{Kind: "failed", Message: "the VPN command wg-quick ended", Err: "wg-quick: exit status 1"})
	return errors.New("the VPN command /usr/bin/wg-quick ended: exit status 1")
}

func (leakyHandler) Add(context.Context, HandOver) error { return nil }

// serveAs serves leakyHandler to peers that are all peer.
func serveAs(t *testing.T, peer Peer) *Client {
	t.Helper()
	addr := testAddress(t)
	ln, err := Listen(Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	ln.peer = func(net.Conn) (Peer, error) { return peer, nil }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Server{Handler: leakyHandler{}, Logf: t.Logf, RequestTimeout: time.Second}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return testClient(addr)
}

// everything is all a client reads of the helper: the list, and two connects (one that fails
// before its first step, one that streams steps and fails), as one text.
func everything(t *testing.T, c *Client) string {
	t.Helper()
	ps, err := c.List(context.Background())
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	b, _ := json.Marshal(ps)
	all := []string{string(b)}
	for _, name := range []string{"early", "office"} {
		err := c.Connect(context.Background(), name, func(s Step) {
			b, _ := json.Marshal(s)
			all = append(all, string(b))
		})
		if err == nil {
			t.Fatalf("connect %s: no error", name)
		}
		all = append(all, err.Error())
	}
	return strings.Join(all, "\n")
}

// TestServerHidesCommandsFromUsers: the commands are root's; nothing the server answers a user
// (the list's command, status and last error; a connect's steps, their errors and its error)
// names one or its parts, whatever the handler's texts say. An administrator reads them all.
func TestServerHidesCommandsFromUsers(t *testing.T) {
	user := everything(t, serveAs(t, Peer{ID: "uid 1000", Key: "uid:1000", Allowed: true}))
	for _, part := range []string{"wg-quick", "/usr/bin", "up office", "s3cr3t", "ecret", "/connect"} {
		if strings.Contains(user, part) {
			t.Errorf("a user reads %q:\n%s", part, user)
		}
	}
	for _, want := range []string{HiddenCommand, "started " + hiddenText, "exit status 1", "permission denied", "requires elevation"} {
		if !strings.Contains(user, want) {
			t.Errorf("a user does not read %q:\n%s", want, user)
		}
	}
	admin := everything(t, serveAs(t, Peer{ID: "uid 0", Allowed: true, Admin: true}))
	for _, want := range []string{`"/usr/bin/wg-quick","up","office"`, "started /usr/bin/wg-quick up office", `exec: "wg-quick"`} {
		if !strings.Contains(admin, want) {
			t.Errorf("an administrator does not read %q:\n%s", want, admin)
		}
	}
}

// TestReplaceWord: a command's program is cut out where it stands on its own, not out of a
// longer word.
func TestReplaceWord(t *testing.T) {
	for _, tc := range []struct{ s, old, want string }{
		{"sh finished: sh -c", "sh", "X finished: X -c"},
		{`exec: "wg-quick": not found`, "wg-quick", `exec: "X": not found`},
		{"wg-quick2 wg-quick", "wg-quick", "wg-quick2 X"},
		{"nothing here", "wg", "nothing here"},
	} {
		if got := replaceWord(tc.s, tc.old, "X"); got != tc.want {
			t.Errorf("replaceWord(%q, %q) = %q, want %q", tc.s, tc.old, got, tc.want)
		}
	}
}
