package helperipc

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestIdleConnectionsRefusedAtAccept: the per-peer limit applies when a connection is
// accepted, not when its request arrives. A user who opens connection after connection and
// sends nothing holds MaxConnsPerPeer of them; each further one takes no slot and is answered
// "busy" and closed within refuseTimeout (long before the header timeout), so the slots stay
// free and root is served. The user is told apart by the address its connections are bound to.
func TestIdleConnectionsRefusedAtAccept(t *testing.T) {
	dir := t.TempDir()
	addr := filepath.Join(dir, "helper.sock")
	ln, err := Listen(Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	ln.peer = func(c net.Conn) (Peer, error) {
		if strings.Contains(c.RemoteAddr().String(), "user-") {
			return Peer{ID: "uid 1000", Key: "uid:1000", Allowed: true}, nil
		}
		return Peer{ID: "uid 0", Key: "uid:0", Allowed: true, Admin: true}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// The header timeout is far longer than the test waits for an answer: a surplus
	// connection that is answered was refused at accept, not timed out.
	go func() {
		done <- (&Server{Handler: &stubHandler{}, Logf: t.Logf, RequestTimeout: time.Minute}).Serve(ctx, ln)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	var held []net.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close()
		}
	})
	for i := range 2 * MaxConns {
		local := &net.UnixAddr{Name: filepath.Join(dir, "user-"+string(rune('a'+i))), Net: "unix"}
		c, err := net.DialUnix("unix", local, &net.UnixAddr{Name: addr, Net: "unix"})
		if err != nil {
			t.Fatalf("connection %d of the user: %v", i+1, err)
		}
		held = append(held, c)
	}
	refused := 0
	for i, c := range held {
		if i < MaxConnsPerPeer {
			continue
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d of the user (beyond its %d) was not answered at once: %v", i+1, MaxConnsPerPeer, err)
		}
		var body ErrorBody
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || body.Code != CodeBusy || resp.Header.Get(ProtocolHeader) == "" {
			t.Fatalf("connection %d of the user: %s %+v, want 503 busy from the helper", i+1, resp.Status, body)
		}
		refused++
	}
	t.Logf("refused %d idle connections at accept", refused)
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	ps, err := testClient(addr).List(lctx)
	if err != nil || len(ps) == 0 {
		t.Fatalf("root's list while the user holds idle connections: %v %v", ps, err)
	}
}
