package helperipc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/needs"
	"github.com/hideyourports/hyp/internal/testkit/testbin"
)

// TestChannelPerPeerLimit: a member of the helper's group (here nobody, a
// listed uid) holds MaxConnsPerPeer slow connects and is refused a further
// one with a busy error naming the limit, while root is served all along;
// nobody's list hides the profiles' commands, root's shows them.
func TestChannelPerPeerLimit(t *testing.T) {
	if addr := os.Getenv("HYP_IPC_LIMIT_ADDR"); addr != "" {
		limitChild(addr)
		return
	}
	needs.Root(t, "runs the client as nobody, which only root can")
	dir, bin := testbin.CopySelf(t)
	_, addr := serveOn(t, Config{Address: filepath.Join(dir, "helper.sock"), Group: "hyp-no-such-group", UIDs: []int{65534}, Mode: 0o666})
	cmd := exec.Command(bin, "-test.run", "^TestChannelPerPeerLimit$")
	cmd.Env = append(os.Environ(), "HYP_IPC_LIMIT_ADDR="+addr)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the child as nobody said nothing: %v", err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(line), &got); err != nil {
		t.Fatalf("the child printed %q: %v", line, err)
	}
	t.Logf("as nobody: %v", got)
	if got["held"] != fmt.Sprint(MaxConnsPerPeer) {
		t.Fatalf("nobody held %s connects, want %d: %v", got["held"], MaxConnsPerPeer, got)
	}
	if got["busy"] != "yes" || !strings.Contains(got["extra"], fmt.Sprintf("already has %d requests open", MaxConnsPerPeer)) {
		t.Fatalf("nobody's connect beyond the limit: %q", got["extra"])
	}
	if got["command"] != HiddenCommand {
		t.Fatalf("nobody's list shows the command %q, want it hidden", got["command"])
	}
	// nobody still holds its connects: root is served.
	ps, err := (&Client{Address: addr}).List(context.Background())
	if err != nil || len(ps) != 1 || !slices.Equal(ps[0].Command, []string{"/usr/bin/wg-quick", "up", "office"}) {
		t.Fatalf("root's list while nobody holds its limit: %+v %v", ps, err)
	}
}

// limitChild is the nobody side of TestChannelPerPeerLimit: it prints one
// JSON line and then holds its connections until stdin closes.
func limitChild(addr string) {
	out := map[string]string{}
	ps, err := (&Client{Address: addr}).List(context.Background())
	if err == nil && len(ps) == 1 {
		out["command"] = strings.Join(ps[0].Command, " ")
	} else {
		out["command"] = fmt.Sprint("list failed: ", err, ps)
	}
	// Each connect holds its connection once the helper streams its first step.
	hold, release := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	held := 0
	for range MaxConnsPerPeer {
		first := make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			(&Client{Address: addr}).Connect(hold, "slow", func(Step) { first <- struct{}{} })
			close(first)
		}()
		select {
		case _, ok := <-first:
			if ok {
				held++
			}
		case <-time.After(10 * time.Second):
		}
	}
	out["held"] = fmt.Sprint(held)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = (&Client{Address: addr}).Connect(ctx, "slow", nil)
	var re *RemoteError
	if errors.As(err, &re) && re.Code == CodeBusy {
		out["busy"] = "yes"
	}
	out["extra"] = fmt.Sprint(err)
	b, _ := json.Marshal(out)
	os.Stdout.Write(append(b, '\n'))
	var buf [1]byte
	os.Stdin.Read(buf[:])
	release()
	wg.Wait()
}

// TestPeerLimitsKeepAdminSlots: users in all hold at most
// MaxConns-AdminConns connections, one user at most MaxConnsPerPeer; an
// administrator is never refused by these limits, and a released slot is
// free again.
func TestPeerLimitsKeepAdminSlots(t *testing.T) {
	l := &peerLimits{byPeer: map[string]int{}}
	var releases []func()
	for u := 0; ; u++ {
		p := Peer{ID: fmt.Sprint("uid ", 1000+u), Key: fmt.Sprint("uid:", 1000+u)}
		n := 0
		for range MaxConnsPerPeer {
			rel, why := l.take(p)
			if rel == nil {
				if !strings.Contains(why, "kept for administrators") {
					t.Fatalf("user %d refused for %q", u, why)
				}
				if total := len(releases); total != MaxConns-AdminConns {
					t.Fatalf("users hold %d connections, want %d", total, MaxConns-AdminConns)
				}
				goto full
			}
			releases = append(releases, rel)
			n++
		}
		if rel, why := l.take(p); rel != nil || !strings.Contains(why, "already has") {
			t.Fatalf("user %d's connection %d: %q", u, n+1, why)
		}
	}
full:
	if rel, why := l.take(Peer{ID: "uid 0", Key: "uid:0", Admin: true}); rel == nil {
		t.Fatalf("root refused while users hold their share: %s", why)
	}
	releases[0]()
	if rel, why := l.take(Peer{ID: "uid 2000", Key: "uid:2000"}); rel == nil {
		t.Fatalf("a released slot is not free again: %s", why)
	}
}
