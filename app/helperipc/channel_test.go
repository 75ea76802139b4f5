//go:build linux || windows

package helperipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hideyourports/hyp/internal/testkit/waitfor"
)

// stubHandler is a Handler with two profiles; it records hand-overs.
type stubHandler struct {
	mu     sync.Mutex // guards added, gaveUp
	added  []string
	gaveUp bool
}

func (h *stubHandler) Profiles() []ProfileState {
	return []ProfileState{{Name: "office", Host: "10.77.1.1", Connected: true, LastKnock: time.Unix(1795000000, 0),
		Command: []string{"/usr/bin/wg-quick", "up", "office"}}}
}

func (h *stubHandler) Connect(ctx context.Context, name string, progress func(Step)) error {
	if name == "slow" {
		// Waits until the client hangs up (the server cancels ctx then).
		progress(Step{Kind: "checking", Message: "waiting for a gateway that never opens"})
		<-ctx.Done()
		h.mu.Lock()
		h.gaveUp = true
		h.mu.Unlock()
		return ctx.Err()
	}
	if name != "office" {
		return fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	progress(Step{Kind: "knocking", Message: "knocking 10.77.1.1"})
	progress(Step{Kind: "launched", Message: "started wireguard.exe"})
	return nil
}

func (h *stubHandler) Add(_ context.Context, ho HandOver) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.added = append(h.added, ho.Name)
	return nil
}

func serveOn(t *testing.T, cfg Config) (*stubHandler, string) {
	t.Helper()
	if cfg.Address == "" {
		cfg.Address = testAddress(t)
	}
	ln, err := Listen(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := &stubHandler{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Server{Handler: h, Logf: t.Logf, RequestTimeout: 300 * time.Millisecond}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return h, cfg.Address
}

// TestChannelProtocol: list, connect and the hand-over over the platform's
// real channel (named pipe with the helper's ACL, unix socket); the
// hand-over is accepted exactly when the kernel says this process is an
// administrator (root; an elevated administrator or SYSTEM).
func TestChannelProtocol(t *testing.T) {
	h, addr := serveOn(t, Config{})
	c := testClient(addr)
	ps, err := c.List(context.Background())
	if err != nil || len(ps) != 1 || ps[0].Name != "office" || !ps[0].Connected {
		t.Fatalf("list: %+v %v", ps, err)
	}
	var steps []string
	if err := c.Connect(context.Background(), "office", func(s Step) { steps = append(steps, s.Kind) }); err != nil || strings.Join(steps, ",") != "knocking,launched" {
		t.Fatalf("connect: %v %v", err, steps)
	}
	if err := c.Connect(context.Background(), "nope", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("connect nope: %v", err)
	}
	elevated := isAdmin()
	err = c.Add(context.Background(), HandOver{Name: "home", URI: NewSecret("hyp://10.77.1.2?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")})
	t.Logf("this process elevated: %v; hand-over: %v", elevated, err)
	if elevated != (err == nil) {
		t.Fatalf("hand-over from a process with elevated=%v: %v", elevated, err)
	}
	if !elevated && !errors.Is(err, ErrDenied) {
		t.Fatalf("a refused hand-over is not ErrDenied: %v", err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if elevated && (len(h.added) != 1 || h.added[0] != "home") {
		t.Fatalf("handed over %v", h.added)
	}
}

// TestChannelSilentPeer: a client that connects and says nothing is hung up on once the
// request's time is up, and does not stop the server.
func TestChannelSilentPeer(t *testing.T) {
	_, addr := serveOn(t, Config{})
	c, err := dialTransport(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [512]byte
	n, err := c.Read(b[:])
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("a silent peer was still connected after 5 s (the server allows %v)", 300*time.Millisecond)
	}
	t.Logf("a silent peer got %q, %v", b[:n], err)
	if _, err := testClient(addr).List(context.Background()); err != nil {
		t.Fatalf("the server stopped serving after a silent peer: %v", err)
	}
}

// TestChannelClientGivesUp: a client whose context ends mid-request returns at
// once, and the server stops following the request when the pipe closes.
func TestChannelClientGivesUp(t *testing.T) {
	h, addr := serveOn(t, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	var steps int
	err := testClient(addr).Connect(ctx, "slow", func(Step) { steps++ })
	if !errors.Is(err, context.DeadlineExceeded) || steps != 1 || time.Since(start) > 5*time.Second {
		t.Fatalf("connect with a deadline: %v after %v, %d step(s)", err, time.Since(start), steps)
	}
	waitfor.For(t, "the server to give up a request whose client hung up", 5*time.Second, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.gaveUp
	})
}

// TestChannelNoHelper: no pipe is ErrNoHelper, the tray's "no service".
func TestChannelNoHelper(t *testing.T) {
	_, err := testClient(testAddress(t)).List(context.Background())
	if !errors.Is(err, ErrNoHelper) {
		t.Fatalf("list without a helper: %v", err)
	}
}
