//go:build linux || windows

package helperipc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestOldClientIsToldTheVersion: a client of protocol version 1 (one JSON line each way, as the
// hyp before the HTTP API spoke) gets an answer in its own protocol, an error line with the code
// "version" naming both versions, which it prints, and nothing else; it is not left waiting. The server goes on
// serving.
func TestOldClientIsToldTheVersion(t *testing.T) {
	_, addr := serveOn(t, Config{})
	c, err := dialTransport(context.Background(), addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(`{"v":1,"op":"list"}` + "\n")); err != nil {
		t.Fatal(err)
	}
	// What the version 1 client decoded.
	var r struct {
		V     int    `json:"v"`
		Type  string `json:"type"`
		Code  string `json:"code"`
		Error string `json:"error"`
	}
	all, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("a version 1 client was not answered and hung up on: %v (read %q)", err, all)
	}
	if n := bytes.Count(all, []byte("\n")); n != 1 {
		t.Fatalf("a version 1 client got %d lines, want its one error line: %q", n, all)
	}
	if err := json.Unmarshal(all, &r); err != nil {
		t.Fatalf("a version 1 client got %q: %v", all, err)
	}
	if r.V != 1 || r.Type != "error" || r.Code != "version" || !strings.Contains(r.Error, "protocol version 2") || !strings.Contains(r.Error, "not 1") {
		t.Fatalf("a version 1 client got %+v", r)
	}
	t.Logf("a version 1 client prints: helper service: %s", r.Error)
	if _, err := testClient(addr).List(context.Background()); err != nil {
		t.Fatalf("the server stopped serving after a version 1 client: %v", err)
	}
}

// TestClientOfOldHelperSaysVersion: this client meeting a helper of protocol version 1 (which
// reads a JSON line, fails to parse the HTTP request line and answers with an error line) says
// that the helper speaks another version, for every operation, at once.
func TestClientOfOldHelperSaysVersion(t *testing.T) {
	addr := testAddress(t)
	ln, err := Listen(Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				var req map[string]any
				err := newLineReader(c).read(&req)
				// The version 1 server's answer to what it could not parse.
				c.Write([]byte(`{"v":1,"type":"error","code":"bad_request","error":"reading the request: ` + strings.ReplaceAll(errText(err), `"`, `'`) + `"}` + "\n"))
			}()
		}
	}()
	cl := testClient(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, lerr := cl.List(ctx)
	cerr := cl.Connect(ctx, "office", nil)
	aerr := cl.Add(ctx, HandOver{Name: "home", URI: NewSecret("hyp://10.77.1.2?secret=AAAQEAYEAUDAOCAJBIFQYDIOB4IBCEQTCQKRMFYYDENBWHA5DYPQ")})
	for what, err := range map[string]error{"list": lerr, "connect": cerr, "add": aerr} {
		if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "protocol version 1") {
			t.Errorf("%s against a version 1 helper: %v", what, err)
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the client waited for a version 1 helper until the test's deadline")
	}
	t.Logf("prints: %v", lerr)
}

// TestPathVersion: a request for another version of the API, in its path, is refused naming
// both versions; an unknown operation is named.
func TestPathVersion(t *testing.T) {
	_, addr := serveOn(t, Config{})
	c := testClient(addr)
	err := c.do(context.Background(), http.MethodGet, "/v3/profiles", nil, 5*time.Second, nil)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "protocol version 3 is not spoken here (this helper speaks 2)") {
		t.Fatalf("GET /v3/profiles: %v", err)
	}
	err = c.do(context.Background(), http.MethodPost, "/v2/reboot", struct{}{}, 5*time.Second, nil)
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != CodeBadRequest || !strings.Contains(re.Message, `"POST /v2/reboot"`) {
		t.Fatalf("POST /v2/reboot: %v", err)
	}
}

func errText(err error) string {
	if err == nil {
		return "no error"
	}
	return err.Error()
}
