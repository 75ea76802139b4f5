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
	Key     string // who, for the per-peer limit: "uid:1000", the SID; "" => ID
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
	lim := &peerLimits{byPeer: map[string]int{}}
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
			s.serve(ctx, ln, c, lim)
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

// peerLimits bounds what one user holds of the server: a member of the
// helper's group who opens connection after connection (a connect waits up
// to ConnectTimeout) must leave room for the others and for root.
type peerLimits struct {
	mu     sync.Mutex     // guards byPeer and users
	byPeer map[string]int // connections served per non-admin peer
	users  int            // connections served for non-admin peers in all
}

// take reserves a connection for p, or says why not.
func (l *peerLimits) take(p Peer) (release func(), why string) {
	if p.Admin {
		return func() {}, "" // bounded by MaxConns alone: the slots users may not take are root's
	}
	key := p.Key
	if key == "" {
		key = p.ID
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.byPeer[key] >= MaxConnsPerPeer:
		return nil, fmt.Sprintf("%s already has %d requests open (at most %d at once)", p.ID, l.byPeer[key], MaxConnsPerPeer)
	case l.users >= MaxConns-AdminConns:
		return nil, fmt.Sprintf("%d requests of users are open; the rest are kept for administrators", l.users)
	}
	l.byPeer[key]++
	l.users++
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.users--
		if l.byPeer[key]--; l.byPeer[key] == 0 {
			delete(l.byPeer, key)
		}
	}, ""
}

// serve answers the one request of a connection.
func (s *Server) serve(ctx context.Context, ln *Listener, c net.Conn, lim *peerLimits) {
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
	release, why := lim.take(peer)
	if release == nil {
		s.logf("helper channel: refused %s: %s", peer.ID, why)
		fail(CodeBusy, "too many requests: %s; try again", why)
		return
	}
	defer release()
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
		ps := s.Handler.Profiles()
		if !peer.Admin {
			// The commands are root's (they may carry a token or a path
			// worth hiding): users see that a profile runs one, not which.
			for i := range ps {
				if len(ps[i].Command) > 0 {
					ps[i].Command = []string{HiddenCommand}
				}
			}
		}
		_ = reply(Response{Type: TypeDone, Profiles: ps})
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
