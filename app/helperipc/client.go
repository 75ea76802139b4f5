package helperipc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Client talks to the helper. The zero value dials the platform's default
// channel (DefaultAddress).
type Client struct {
	// Address is the socket path or pipe name; "" => DefaultAddress.
	Address string
	// Dial connects; nil => the platform's transport.
	Dial func(ctx context.Context, address string) (net.Conn, error)
	// Timeout bounds List and Add, and the wait for each step of Connect;
	// 0 => RequestTimeout.
	Timeout time.Duration
	// Server is the account that must serve the channel, checked from the
	// kernel before anything is sent: a uid on Linux, a SID on Windows;
	// "" => the helper's own (DefaultServer: root, LocalSystem). Whoever
	// else listens there (a user who made the pipe while the helper was
	// stopped) would receive the request, a hand-over's key included.
	Server string
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return RequestTimeout
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	addr := c.Address
	if addr == "" {
		addr = DefaultAddress
	}
	dial := c.Dial
	if dial == nil {
		dial = dialTransport
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	conn, err := dial(dctx, addr)
	if err != nil {
		if isAbsent(err) {
			return nil, fmt.Errorf("%w (nothing listens on %s)", ErrNoHelper, addr)
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, fmt.Errorf("%w: %s does not admit you (%s)", ErrDenied, addr, whoMay)
		}
		return nil, fmt.Errorf("connecting to the helper service at %s: %w", addr, err)
	}
	want := c.Server
	if want == "" {
		want = DefaultServer
	}
	if err := checkServer(conn, want); err != nil {
		conn.Close()
		return nil, fmt.Errorf("%w: %s: %v; nothing was sent", ErrNotHelper, addr, err)
	}
	return conn, nil
}

// do sends one request and hands the answer to read. A client of this release talks to a helper
// of another in words: ErrVersion, never a parse error or a hang. wait bounds the answer: the
// whole of it (list, add), or, with a stream (connect), each line, as each read restarts it.
func (c *Client) do(ctx context.Context, method, path string, body any, wait time.Duration, read func(*http.Response, func()) error) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		if len(b) > MaxMessage {
			return fmt.Errorf("the request: %w", errTooLarge)
		}
		rd = bytes.NewReader(b)
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var timedOut atomic.Bool
	timer := time.AfterFunc(wait, func() { timedOut.Store(true); cancel() })
	defer timer.Stop()
	alive := func() { timer.Reset(wait) }
	d := &dialed{}
	hc := &http.Client{Transport: &http.Transport{
		// One request a connection: the helper reads who we are from each connection.
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			nc, err := c.dial(ctx)
			d.set(nc, err)
			if err != nil {
				return nil, err
			}
			return d.get()
		},
		MaxResponseHeaderBytes: 16 << 10,
	}}
	req, err := http.NewRequestWithContext(rctx, method, "http://hyp-helper"+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		if _, derr := d.get(); derr != nil {
			return derr
		}
		return c.ioErr(ctx, d, &timedOut, wait, "the helper did not answer", err)
	}
	defer resp.Body.Close()
	if v := resp.Header.Get(ProtocolHeader); v != strconv.Itoa(Version) {
		if v == "" {
			v = "none"
		}
		return fmt.Errorf("%w: the helper's answer says protocol version %s, this hyp speaks %d: use a hyp of the same release as the helper", ErrVersion, v, Version)
	}
	if resp.StatusCode/100 != 2 {
		var e ErrorBody
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxMessage))
		if rerr != nil || json.Unmarshal(b, &e) != nil || e.Code == "" {
			return fmt.Errorf("helper service: %s", resp.Status)
		}
		return &RemoteError{Code: e.Code, Message: e.Error}
	}
	if err := read(resp, alive); err != nil {
		return c.ioErr(ctx, d, &timedOut, wait, "reading the answer", err)
	}
	return nil
}

// ioErr says what went wrong on the way, ctx's own end first (the caller gave up).
func (c *Client) ioErr(ctx context.Context, d *dialed, timedOut *atomic.Bool, wait time.Duration, what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // not `Get "http://hyp-helper/v2/profiles"`: the URL is an implementation detail
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case d.v1():
		return errV1Helper()
	case timedOut.Load():
		return fmt.Errorf("helper service: %s: no answer within %v", what, wait)
	}
	return fmt.Errorf("helper service: %s: %w", what, err)
}

// dialed is the connection of one request, set by the transport's dial (which may still run
// when the request has given up).
type dialed struct {
	mu   sync.Mutex // guards conn and err
	conn *sniffConn
	err  error
}

func (d *dialed) set(c net.Conn, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err == nil {
		d.conn = &sniffConn{Conn: c}
	}
	d.err = err
}

func (d *dialed) get() (*sniffConn, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn, d.err
}

// v1 says whether the helper answered in version 1.
func (d *dialed) v1() bool {
	c, _ := d.get()
	return c != nil && c.v1.Load()
}

// List returns the helper's profiles with their live state.
func (c *Client) List(ctx context.Context) ([]ProfileState, error) {
	var out ProfileList
	err := c.do(ctx, http.MethodGet, PathProfiles, nil, c.timeout(), func(resp *http.Response, _ func()) error {
		return decodeBody(resp.Body, &out)
	})
	if err != nil {
		return nil, err
	}
	return out.Profiles, nil
}

// Connect asks the helper to knock for name now and bring it up; progress sees each step. It
// returns nil once the profile is up.
func (c *Client) Connect(ctx context.Context, name string, progress func(Step)) error {
	// Between steps the helper may wait for a check port as long as its connect flow allows;
	// ConnectTimeout bounds the whole on its side.
	return c.do(ctx, http.MethodPost, PathConnect, ConnectRequest{Name: name}, ConnectTimeout+c.timeout(), func(resp *http.Response, alive func()) error {
		r := newLineReader(resp.Body)
		for {
			var l StreamLine
			if err := r.read(&l); err != nil {
				if errors.Is(err, io.EOF) {
					err = errors.New("the helper closed the connection before the knock ended")
				}
				return err
			}
			alive()
			switch l.Type {
			case TypeStep:
				if l.Step != nil && progress != nil {
					progress(*l.Step)
				}
			case TypeDone:
				return nil
			case TypeError:
				return &RemoteError{Code: l.Code, Message: l.Error}
			default:
				return fmt.Errorf("the helper sent a line of unknown type %q", l.Type)
			}
		}
	})
}

// Add hands a profile over to the helper (root or an elevated administrator only).
func (c *Client) Add(ctx context.Context, h HandOver) error {
	return c.do(ctx, http.MethodPost, PathAdd, h, c.timeout(), func(resp *http.Response, _ func()) error {
		return decodeBody(resp.Body, &struct{}{})
	})
}

// decodeBody reads a JSON answer of at most MaxMessage bytes.
func decodeBody(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxMessage+1))
	if err != nil {
		return err
	}
	if len(b) > MaxMessage {
		return errTooLarge
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("malformed answer: %w", err)
	}
	return nil
}
