package helperipc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Handler is what the server serves: the helper's runner.
type Handler interface {
	// Profiles lists the helper's profiles with their live state.
	Profiles() []ProfileState
	// Connect makes the helper knock for name now (and launch its command
	// if it is not running), reporting steps until the profile is up (nil)
	// or the attempt failed. An unknown name is an error wrapping
	// ErrNotFound.
	Connect(ctx context.Context, name string, progress func(Step)) error
	// Add stores a handed-over profile and starts keeping it alive.
	Add(ctx context.Context, h HandOver) error
}

// Peer is who is on the other end of a connection, as the transport found
// out from the kernel (never from what the peer says).
type Peer struct {
	ID      string // "uid 1000", a Windows SID: for logs and errors
	Allowed bool   // may list and connect
	Admin   bool   // may also hand profiles over (root, an elevated administrator, SYSTEM)
	Why     string // when not Allowed: why not, in words
}

// Listener is a transport's listener: accepted connections come with the
// identity of their peer.
type Listener struct {
	net.Listener
	peer  func(net.Conn) (Peer, error)
	close func() error // after the listener: remove the socket file
}

// Close stops listening and removes what Listen created.
func (l *Listener) Close() error {
	err := l.Listener.Close()
	if l.close != nil {
		if cerr := l.close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Server answers requests on a Listener.
type Server struct {
	Handler Handler
	Logf    func(format string, a ...any) // nil => silent
	// Timeouts; zero => the package's defaults.
	RequestTimeout, ConnectTimeout time.Duration
}

// Serve accepts connections until ctx is done, then closes ln and waits for
// the connections being served.
func (s *Server) Serve(ctx context.Context, ln *Listener) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	slots := make(chan struct{}, MaxConns)
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("helper channel: accepting: %w", err)
			}
			// One failed accept (a client that left at once, a broken
			// pipe instance) is no reason to stop serving; a pause keeps a
			// lasting failure from spinning.
			s.logf("helper channel: accepting: %v", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		select {
		case slots <- struct{}{}:
		default:
			s.refuse(c, CodeBusy, "too many connections; try again")
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			defer c.Close()
			s.serve(ctx, ln, c)
		}()
	}
}

func (s *Server) requestTimeout() time.Duration {
	if s.RequestTimeout > 0 {
		return s.RequestTimeout
	}
	return RequestTimeout
}

func (s *Server) refuse(c net.Conn, code, msg string) {
	_ = write(c, s.requestTimeout(), Response{V: Version, Type: TypeError, Code: code, Error: msg})
	c.Close()
}

func (s *Server) logf(format string, a ...any) {
	if s.Logf != nil {
		s.Logf(format, a...)
	}
}

// serve answers the one request of a connection.
func (s *Server) serve(ctx context.Context, ln *Listener, c net.Conn) {
	reply := func(r Response) error {
		r.V = Version
		return write(c, s.requestTimeout(), r)
	}
	fail := func(code string, format string, a ...any) {
		_ = reply(Response{Type: TypeError, Code: code, Error: fmt.Sprintf(format, a...)})
	}
	peer, err := ln.peer(c)
	if err != nil {
		s.logf("helper channel: refused a connection: cannot tell who it is: %v", err)
		fail(CodeDenied, "cannot tell who you are: %v", err)
		return
	}
	if !peer.Allowed {
		s.logf("helper channel: refused %s: %s", peer.ID, peer.Why)
		fail(CodeDenied, "%s may not use the helper service: %s", peer.ID, peer.Why)
		return
	}
	if err := c.SetReadDeadline(time.Now().Add(s.requestTimeout())); err != nil {
		return
	}
	var req Request
	if err := newLineReader(c).read(&req); err != nil {
		fail(CodeBadRequest, "reading the request: %v", err)
		return
	}
	if req.V != Version {
		fail(CodeVersion, "protocol version %d is not spoken here (this helper speaks %d): use a hyp of the same release as the helper", req.V, Version)
		return
	}
	switch req.Op {
	case OpList:
		_ = reply(Response{Type: TypeDone, Profiles: s.Handler.Profiles()})
	case OpConnect:
		if req.Name == "" {
			fail(CodeBadRequest, "connect: no profile name")
			return
		}
		cto := s.ConnectTimeout
		if cto <= 0 {
			cto = ConnectTimeout
		}
		cctx, cancel := context.WithTimeout(ctx, cto)
		defer cancel()
		// A peer that hangs up no longer waits for the steps: stop
		// following (the helper's own attempt goes on regardless).
		go watchHangUp(c, cancel)
		var werr error
		err := s.Handler.Connect(cctx, req.Name, func(st Step) {
			if werr == nil {
				werr = reply(Response{Type: TypeStep, Step: &st})
			}
		})
		switch {
		case errors.Is(err, ErrNotFound):
			fail(CodeNotFound, "%v", err)
		case err != nil:
			fail(CodeFailed, "%v", err)
		default:
			_ = reply(Response{Type: TypeDone})
		}
	case OpAdd:
		if !peer.Admin {
			s.logf("helper channel: refused a hand-over from %s: not an administrator", peer.ID)
			fail(CodeDenied, "%s may not hand profiles over: the helper runs their commands with its own rights, so only root or an elevated administrator may (use 'Run as a service…', which asks for them)", peer.ID)
			return
		}
		if req.Add == nil || req.Add.Name == "" || req.Add.URI.IsZero() {
			fail(CodeBadRequest, "add: no profile (name and URI) in the request")
			return
		}
		if err := s.Handler.Add(ctx, *req.Add); err != nil {
			fail(CodeFailed, "%v", err)
			return
		}
		s.logf("helper channel: %s handed over profile %s", peer.ID, req.Add.Name)
		_ = reply(Response{Type: TypeDone})
	default:
		fail(CodeBadRequest, "unknown operation %q (want %s, %s or %s)", req.Op, OpList, OpConnect, OpAdd)
	}
}

// watchHangUp cancels when the peer closes its end: a client sends nothing
// after its request, so any read result means it is gone.
func watchHangUp(c net.Conn, cancel context.CancelFunc) {
	_ = c.SetReadDeadline(time.Time{})
	var b [1]byte
	_, _ = c.Read(b[:])
	cancel()
}
