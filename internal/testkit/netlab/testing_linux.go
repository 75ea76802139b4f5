package netlab

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"net/netip"
	"testing"
	"time"
)

// TempLab is New for a test: the lab is removed when the test ends, and a failure to build it
// fails the test.
func TempLab(t testing.TB, name string, n int) *Lab {
	t.Helper()
	l, err := New(name, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("removing the lab: %v", err)
		}
	})
	return l
}

// TempEcho runs ServeEcho on a TCP port of the namespace until the test ends: the protected
// service behind a gateway.
func (n *NS) TempEcho(t testing.TB, port uint16) {
	t.Helper()
	ln, err := n.Listen("tcp", fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go ServeEcho(ln)
}

// Echoes connects from the namespace to an echo service and checks that what it sends comes
// back: proof that data flows, not just that a SYN was answered. timeout bounds the whole
// exchange; the error says which step failed.
func (n *NS) Echoes(to netip.AddrPort, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := n.Dial(ctx, "tcp", to, netip.Addr{})
	if err != nil {
		return fmt.Errorf("from %s: %w", n.Name, err)
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	}
	ping := []byte("hyp echo probe\n")
	if _, err := c.Write(ping); err != nil {
		return fmt.Errorf("from %s: writing to %v: %w", n.Name, to, err)
	}
	got := make([]byte, len(ping))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("from %s: reading the echo of %v: %w", n.Name, to, err)
	}
	if !bytes.Equal(got, ping) {
		return fmt.Errorf("from %s: %v echoed %q, want %q", n.Name, to, got, ping)
	}
	return nil
}

// TempHypd is StartHypd for a test: hypd is stopped (SIGTERM, then SIGKILL) when the test ends,
// its output logged if the test failed, and a failure to start it fails the test. Register it
// after TempLab, so that hypd stops before its namespace goes.
func (n *NS) TempHypd(t testing.TB, hypd string, args ...string) *Process {
	t.Helper()
	p, err := n.StartHypd(hypd, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("stopping hypd: %v", err)
		}
		if t.Failed() {
			t.Logf("hypd output:\n%s", p.Output())
		}
	})
	return p
}

// TempFD is Open for a test: the descriptor of the namespace, closed when the test ends (before
// a namespace made by Temp or TempLab earlier in the test is removed).
func (n *NS) TempFD(t testing.TB) int {
	t.Helper()
	f, err := n.Open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return int(f.Fd())
}
