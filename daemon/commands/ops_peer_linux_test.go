//go:build linux

package commands

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/daemon/control"
	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// otherHypd stands for a hypd of another network namespace serving the same socket path: this
// test process, in the host's namespace. It records what it was asked to do.
type otherHypd struct {
	mu       sync.Mutex // guards reloads, stops
	reloads  int
	stops    int
	services []control.Protected
}

func (b *otherHypd) Status() (control.Status, error) {
	return control.Status{Protected: b.services}, nil
}
func (b *otherHypd) Revoke(netip.Addr) (int, error) { return 0, nil }
func (b *otherHypd) Unprotect(string) error         { return nil }
func (b *otherHypd) Reload(context.Context) (control.ReloadResult, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reloads++
	return control.ReloadResult{Applied: []string{"keys"}}, nil
}
func (b *otherHypd) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stops++
}
func (b *otherHypd) asked() (int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reloads, b.stops
}

// F3 of the attacker review: a hypd of another network namespace on the same --socket path.
// hypd reload in the lab's namespace must not reload it and claim success; hypd start there must
// not replace its live socket and report the other's status as its own.
func TestOpsRefuseAnotherNamespacesHypd(t *testing.T) {
	o := newOpsLab(t, 122)
	o.writeConf(`services = ["tcp/2222"]`)
	other := &otherHypd{services: []control.Protected{{Service: "tcp/9999", From: []string{"config"}}}}
	s, err := control.Listen(o.sock, other)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	fi, err := os.Stat(o.sock)
	if err != nil {
		t.Fatal(err)
	}

	// No hypd runs in the lab's namespace: what answers is another namespace's.
	out, code := o.run("reload", "--socket", o.sock)
	if code == 0 || strings.Contains(out, "reloaded hypd") || !strings.Contains(out, "no hypd runs in this network namespace") {
		t.Fatalf("reload reached another namespace's hypd: exit %d: %s", code, out)
	}

	// start: the new hypd must leave the other's socket alone, and start must not report the
	// other's status as the new one's.
	out, code = o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log, "--wait", "10s")
	if code == 0 || strings.Contains(out, "started hypd (pid") {
		t.Fatalf("start reported another namespace's hypd as the one it started: exit %d: %s", code, out)
	}
	if !strings.Contains(out, fmt.Sprintf("served by pid %d", os.Getpid())) {
		t.Errorf("start does not say who serves the socket: %s", out)
	}
	if again, err := os.Stat(o.sock); err != nil || !os.SameFile(fi, again) {
		t.Fatalf("the other hypd's live socket was replaced or removed: %v", err)
	}
	// start fails as soon as it sees who answers; the hypd it started runs on, without a socket.
	waitfor.For(t, "the started hypd to run without a control socket", 20*time.Second, func() bool {
		b, _ := os.ReadFile(o.log)
		return strings.Contains(string(b), "hypd running")
	})
	if b, _ := os.ReadFile(o.log); !strings.Contains(string(b), fmt.Sprintf("another hypd (pid %d) serves %s", os.Getpid(), o.sock)) {
		t.Errorf("the started hypd's log does not say why it has no socket:\n%s", b)
	}
	if again, err := os.Stat(o.sock); err != nil || !os.SameFile(fi, again) {
		t.Fatalf("the started hypd replaced or removed the other hypd's live socket: %v", err)
	}

	// The lab's hypd (started, without a socket) now holds the lock; reload and stop still must
	// not reach the other.
	out, code = o.run("reload", "--socket", o.sock)
	if code == 0 || strings.Contains(out, "reloaded hypd") || !strings.Contains(out, "not by this network namespace's hypd") {
		t.Fatalf("reload with this namespace's hypd running: exit %d: %s", code, out)
	}
	out, code = o.run("stop", "--socket", o.sock)
	mustHave(t, "stop", out, code, 0, "stopped hypd (pid")
	if r, st := other.asked(); r != 0 || st != 0 {
		t.Fatalf("the other namespace's hypd was asked to reload %d and stop %d times", r, st)
	}
}

// The other direction, with a real hypd: seen from a process of another network namespace (this
// test, on the host), the lab's hypd is not "this namespace's hypd". The peer check refuses it by
// pid (visible here) and, where pids are not visible, the network namespace it reports to root
// is what refuses it.
func TestAnotherNamespaceSeesTheLabsHypdAsForeign(t *testing.T) {
	o := newOpsLab(t, 124)
	o.writeConf(`services = ["tcp/2222"]`)
	out, code := o.run("start", "--config", o.conf, "--socket", o.sock, "--log", o.log)
	mustHave(t, "start", out, code, 0, "started hypd (pid")

	ctx := context.Background()
	st, err := control.NewClient(o.sock).Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.NetNS == 0 || st.NetNS == control.NetNS() {
		t.Fatalf("the lab's hypd reports network namespace %d; this test runs in %d", st.NetNS, control.NetNS())
	}
	if _, err := sameNetNS(ctx, control.NewClient(o.sock), o.sock); err == nil || !strings.Contains(err.Error(), "runs in another network namespace") {
		t.Fatalf("sameNetNS from another namespace: %v", err)
	}
	// By pid: the instance lock of this (the host's) namespace is not the lab hypd's.
	if _, err := hypdClient(o.sock, 0).Reload(ctx); err == nil || !strings.Contains(err.Error(), "served by pid") {
		t.Fatalf("reload from another namespace: %v", err)
	}
}
