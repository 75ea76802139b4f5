package helperipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
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

// do sends req and reads responses, handing steps to step, until done.
// stepWait bounds the wait for each response line.
func (c *Client) do(ctx context.Context, req Request, stepWait time.Duration, step func(Step)) (Response, error) {
	conn, err := c.dial(ctx)
	if err != nil {
		return Response{}, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	req.V = Version
	// A refusal is written before the request is read: if sending fails,
	// the reason may already be waiting to be read.
	werr := write(conn, c.timeout(), req)
	r := newLineReader(conn)
	for {
		if err := conn.SetReadDeadline(time.Now().Add(stepWait)); err != nil {
			return Response{}, err
		}
		var resp Response
		if err := r.read(&resp); err != nil {
			if werr != nil {
				return Response{}, c.ioErr(ctx, "sending the request", werr)
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the helper closed the connection without an answer")
			}
			return Response{}, c.ioErr(ctx, "reading the answer", err)
		}
		if resp.V != Version {
			return Response{}, fmt.Errorf("the helper speaks protocol version %d, this hyp %d: use a hyp of the same release as the helper", resp.V, Version)
		}
		switch resp.Type {
		case TypeStep:
			if resp.Step != nil && step != nil {
				step(*resp.Step)
			}
		case TypeDone:
			return resp, nil
		case TypeError:
			return Response{}, &RemoteError{Code: resp.Code, Message: resp.Error}
		default:
			return Response{}, fmt.Errorf("the helper sent an answer of unknown type %q", resp.Type)
		}
	}
}

func (c *Client) ioErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("helper service: %s: %w", what, err)
}

// List returns the helper's profiles with their live state.
func (c *Client) List(ctx context.Context) ([]ProfileState, error) {
	resp, err := c.do(ctx, Request{Op: OpList}, c.timeout(), nil)
	if err != nil {
		return nil, err
	}
	return resp.Profiles, nil
}

// Connect asks the helper to knock for name now and bring it up; progress
// sees each step. It returns nil once the profile is up.
func (c *Client) Connect(ctx context.Context, name string, progress func(Step)) error {
	// Between steps the helper may wait for a check port as long as its
	// connect flow allows; ConnectTimeout bounds the whole on its side.
	_, err := c.do(ctx, Request{Op: OpConnect, Name: name}, ConnectTimeout+c.timeout(), progress)
	return err
}

// Add hands a profile over to the helper (root or an elevated administrator
// only).
func (c *Client) Add(ctx context.Context, h HandOver) error {
	_, err := c.do(ctx, Request{Op: OpAdd, Add: &h}, c.timeout(), nil)
	return err
}
