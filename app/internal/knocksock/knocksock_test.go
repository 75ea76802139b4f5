package knocksock_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hideyourports/hyp/app/internal/knocksock"
)

// TestSendReceive sends a knock-sized datagram from one socket to another over loopback; on
// Windows (and under wine, where the stage runs this test binary) both are Winsock sockets.
func TestSendReceive(t *testing.T) {
	ctx := context.Background()
	rx, err := knocksock.Listen(ctx, "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := knocksock.Listen(ctx, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()

	to := rx.LocalAddr().(*net.UDPAddr)
	if to.Port == 0 {
		t.Fatalf("receiver bound to %v: no port", to)
	}
	for _, payload := range [][]byte{{0}, []byte("second")} {
		if n, err := tx.WriteTo(payload, to); err != nil || n != len(payload) {
			t.Fatalf("WriteTo %v: %d, %v", to, n, err)
		}
	}
	if err := rx.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for _, want := range [][]byte{{0}, []byte("second")} {
		n, from, err := rx.ReadFrom(buf)
		if err != nil {
			t.Fatalf("ReadFrom: %v", err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("got %q, want %q", buf[:n], want)
		}
		if got := from.(*net.UDPAddr).AddrPort().Addr(); got != netip.MustParseAddr("127.0.0.1") {
			t.Errorf("datagram from %v, want 127.0.0.1", got)
		}
	}
}

// TestReadDeadline: a read with nothing to read ends at the deadline instead of hanging.
func TestReadDeadline(t *testing.T) {
	c, err := knocksock.Listen(context.Background(), "udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(50 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ReadFrom(make([]byte, 8)); err == nil {
		t.Fatal("ReadFrom with nothing sent returned no error")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := c.Close(); err == nil {
		t.Error("second Close returned no error")
	}
}

// TestErrorsNameTheProblem: a family mismatch and a bad address say what is wrong, in words.
func TestErrorsNameTheProblem(t *testing.T) {
	ctx := context.Background()
	if _, err := knocksock.Listen(ctx, "udp4", "not-an-address"); err == nil || !strings.Contains(err.Error(), "not-an-address") {
		t.Errorf("bad address: %v", err)
	}
	c, err := knocksock.Listen(ctx, "udp4", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.WriteTo([]byte{0}, net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[2001:db8::1]:9")))
	if err == nil {
		t.Fatal("an IPv6 destination from an IPv4 socket: no error")
	}
	if strings.Contains(err.Error(), "#") {
		t.Errorf("error carries a raw error number: %v", err)
	}
}
