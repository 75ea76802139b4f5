package helperipc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
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

// connKey is the request context key of the *servedConn a request came on.
type connKey struct{}

// Serve answers requests until ctx is done, then closes ln and waits for the requests being
// served (their contexts end with ctx). It returns an error only when ln fails on its own.
func (s *Server) Serve(ctx context.Context, ln *Listener) error {
	sl := &servedListener{ln: ln, ctx: ctx, slots: make(chan struct{}, MaxConns), lim: &peerLimits{byPeer: map[string]int{}},
		refusing: make(chan struct{}, maxRefusing), logf: s.logf, timeout: s.requestTimeout()}
	defer sl.refusals.Wait()
	hs := &http.Server{
		Handler: &api{s: s},
		// The request's headers within RequestTimeout; its body is given as long again by the
		// handler, which then lifts the read deadline so that the server notices a client that
		// hangs up during a connect. No ReadTimeout or WriteTimeout: they would cut a connect's
		// stream off; each write of an answer has its own deadline instead.
		ReadHeaderTimeout: s.requestTimeout(),
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext: func(cctx context.Context, c net.Conn) context.Context {
			return context.WithValue(cctx, connKey{}, c)
		},
		ErrorLog: log.New(logWriter(s.logf), "helper channel: ", 0),
	}
	// One request a connection: the per-peer limit counts connections, as the peer's identity
	// is read once per connection.
	hs.SetKeepAlivesEnabled(false)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(sl) }()
	select {
	case err := <-served:
		ln.Close()
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("helper channel: accepting: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout())
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // a connection that never sent its request: cut it
	}
	<-served
	return nil
}

func (s *Server) requestTimeout() time.Duration {
	if s.RequestTimeout > 0 {
		return s.RequestTimeout
	}
	return RequestTimeout
}

func (s *Server) logf(format string, a ...any) {
	if s.Logf != nil {
		s.Logf(format, a...)
	}
}

// logWriter hands net/http's own complaints to Logf.
type logWriter func(format string, a ...any)

func (w logWriter) Write(b []byte) (int, error) {
	w("%s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// servedListener reads every accepted connection's peer from the kernel at once and gives the
// connection a place within the peer's limits and a slot of MaxConns, or answers it "busy" and
// closes it then and there; it does not give up on a failed accept.
//
// The limits apply at accept, not once the request has come: a connection holds its slot from
// accept until it ends, and one that never sends a request holds it for the header timeout, so
// limits applied after the headers would let one user hold every slot with idle connections,
// opened again as they time out, and shut root out.
type servedListener struct {
	ln       *Listener
	ctx      context.Context
	slots    chan struct{}
	lim      *peerLimits
	refusing chan struct{}  // a place for each connection being refused (maxRefusing)
	refusals sync.WaitGroup // the goroutines refusing connections; Serve waits for them
	logf     func(format string, a ...any)
	timeout  time.Duration
}

func (l *servedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil, err
			}
			// One failed accept (a client that left at once, a broken pipe instance) is no
			// reason to stop serving; a pause keeps a lasting failure from spinning.
			l.logf("helper channel: accepting: %v", err)
			select {
			case <-l.ctx.Done():
				return nil, net.ErrClosed
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if sc := l.admit(c); sc != nil {
			return sc, nil
		}
	}
}

// admit gives c its place within its peer's limits and a slot, or answers it "busy", closes
// it and returns nil. A peer that may not use the helper, or that cannot be told, is held to
// a user's limits: it is answered why not, and must not crowd out the others meanwhile.
func (l *servedListener) admit(c net.Conn) *servedConn {
	peer, perr := l.ln.peer(c)
	key := peer
	if perr != nil {
		key = Peer{ID: "a peer that cannot be told", Key: "\x00unknown"}
	}
	if !key.Allowed {
		key.Admin = false
	}
	release, why := l.lim.take(key)
	if release == nil {
		l.refuse(c, key, why)
		return nil
	}
	select {
	case l.slots <- struct{}{}:
	default:
		release()
		l.refuse(c, key, fmt.Sprintf("all %d connections are taken", MaxConns))
		return nil
	}
	sc := &servedConn{sniffConn: sniffConn{Conn: c}, timeout: l.timeout, peer: peer, peerErr: perr}
	sc.release = func() {
		release()
		<-l.slots
	}
	return sc
}

// refuse answers a connection beyond its peer's limits "busy" and closes it, holding no slot.
// The answer follows the request, read within refuseTimeout (an HTTP client takes an answer that
// comes before its request for garbage, and a unix socket closed with unread data resets the
// other end); a connection that sends nothing by then is answered all the same. At most
// maxRefusing connections are being refused at once: beyond that one is closed unanswered.
func (l *servedListener) refuse(c net.Conn, p Peer, why string) {
	l.logf("helper channel: refused %s: %s", p.ID, why)
	select {
	case l.refusing <- struct{}{}:
	default:
		c.Close()
		return
	}
	l.refusals.Add(1)
	go func() {
		defer l.refusals.Done()
		defer func() { <-l.refusing }()
		defer c.Close()
		deadline := time.Now().Add(refuseTimeout)
		_ = c.SetReadDeadline(deadline)
		if req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(c, maxHeaderBytes+MaxMessage))); err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(req.Body, MaxMessage))
		}
		b, _ := json.Marshal(ErrorBody{Code: CodeBusy, Error: "too many requests: " + why + "; try again"})
		resp := fmt.Sprintf("HTTP/1.1 %d %s\r\n%s: %d\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n",
			http.StatusServiceUnavailable, http.StatusText(http.StatusServiceUnavailable), ProtocolHeader, Version, len(b)+1, b)
		_ = c.SetWriteDeadline(deadline.Add(refuseTimeout))
		_, _ = c.Write([]byte(resp))
	}()
}

const (
	// refuseTimeout bounds the wait for a refused connection's request, and the write of its
	// answer: a client sends its request at once.
	refuseTimeout = time.Second
	// maxRefusing bounds the connections being refused at once (each holds a goroutine for up
	// to 2*refuseTimeout, and no slot).
	maxRefusing = 4 * MaxConns
	// maxHeaderBytes bounds a request's headers (http.Server.MaxHeaderBytes).
	maxHeaderBytes = 16 << 10
)

func (l *servedListener) Close() error   { return l.ln.Close() }
func (l *servedListener) Addr() net.Addr { return l.ln.Addr() }

// servedConn is a connection the server answers: its place and slot, its peer (read from the
// kernel at accept) and the check for a version 1 client.
type servedConn struct {
	sniffConn
	timeout time.Duration
	peer    Peer  // set at accept, read-only after
	peerErr error // why the peer could not be told; set at accept

	closeOnce sync.Once
	release   func() // frees the place and the slot
}

// Peer is who is on the other end, as the transport told at accept.
func (c *servedConn) Peer() (Peer, error) { return c.peer, c.peerErr }

// Read answers a version 1 client in its own words (its request is a JSON line, not HTTP),
// then ends the connection as if the client had closed it, so that net/http adds nothing.
func (c *servedConn) Read(p []byte) (int, error) {
	n, err := c.sniffConn.Read(p)
	if n > 0 && c.v1.Load() {
		_ = writeWithin(c.Conn, c.timeout, v1Refusal())
		return 0, io.EOF
	}
	return n, err
}

func (c *servedConn) Close() error {
	c.closeOnce.Do(func() {
		if c.release != nil {
			c.release()
		}
	})
	return c.Conn.Close()
}

// peerLimits bounds what one user holds of the server: a member of the
// helper's group who opens connection after connection (a connect waits up
// to ConnectTimeout) must leave room for the others and for root.
type peerLimits struct {
	mu     sync.Mutex     // guards byPeer and users
	byPeer map[string]int // connections served per non-admin peer
	users  int            // connections served for non-admin peers in all
}

// take reserves a connection for p, or says why not. The caller makes sure that p.Admin is set
// only for an allowed peer.
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

// api is the HTTP side of a Server.
type api struct {
	s *Server
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(ProtocolHeader, strconv.Itoa(Version))
	s := a.s
	rc := http.NewResponseController(w)
	// Every answer is written within RequestTimeout (a connect's stream: each line).
	_ = rc.SetWriteDeadline(time.Now().Add(s.requestTimeout()))
	sc, _ := r.Context().Value(connKey{}).(*servedConn)
	if sc == nil {
		fail(w, http.StatusInternalServerError, CodeFailed, "a request without its connection")
		return
	}
	peer, err := sc.Peer()
	if err != nil {
		s.logf("helper channel: refused a connection: cannot tell who it is: %v", err)
		fail(w, http.StatusForbidden, CodeDenied, "cannot tell who you are: %v", err)
		return
	}
	if !peer.Allowed {
		s.logf("helper channel: refused %s: %s", peer.ID, peer.Why)
		fail(w, http.StatusForbidden, CodeDenied, "%s may not use the helper service: %s", peer.ID, peer.Why)
		return
	}
	if v, ok := pathVersion(r.URL.Path); ok && v != strconv.Itoa(Version) {
		fail(w, http.StatusBadRequest, CodeVersion, "protocol version %s is not spoken here (this helper speaks %d): use a hyp of the same release as the helper", v, Version)
		return
	}
	switch {
	case r.URL.Path == PathProfiles && r.Method == http.MethodGet:
		ps := s.Handler.Profiles()
		a.send(w, rc, http.StatusOK, ProfileList{Profiles: viewFor(peer, ps).profiles(ps)})
	case r.URL.Path == PathConnect && r.Method == http.MethodPost:
		var req ConnectRequest
		if !a.body(w, r, rc, &req) {
			return
		}
		if req.Name == "" {
			fail(w, http.StatusBadRequest, CodeBadRequest, "connect: no profile name")
			return
		}
		a.connect(w, r, rc, req.Name, peer)
	case r.URL.Path == PathAdd && r.Method == http.MethodPost:
		if !peer.Admin {
			s.logf("helper channel: refused a hand-over from %s: not an administrator", peer.ID)
			fail(w, http.StatusForbidden, CodeDenied, "%s may not hand profiles over: the helper runs their commands with its own rights, so only root or an elevated administrator may (use 'Run as a service…', which asks for them)", peer.ID)
			return
		}
		var h HandOver
		if !a.body(w, r, rc, &h) {
			return
		}
		if h.Name == "" || h.URI.IsZero() {
			fail(w, http.StatusBadRequest, CodeBadRequest, "add: no profile (name and URI) in the request")
			return
		}
		if err := s.Handler.Add(r.Context(), h); err != nil {
			fail(w, http.StatusInternalServerError, CodeFailed, "%v", err)
			return
		}
		s.logf("helper channel: %s handed over profile %s", peer.ID, h.Name)
		a.send(w, rc, http.StatusOK, struct{}{})
	default:
		fail(w, http.StatusNotFound, CodeBadRequest, "unknown operation %q (want GET %s, POST %s or POST %s)", r.Method+" "+r.URL.Path, PathProfiles, PathConnect, PathAdd)
	}
}

// pathVersion is the "N" of a path that starts with /vN/.
func pathVersion(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/v")
	if !ok {
		return "", false
	}
	v, _, ok := strings.Cut(rest, "/")
	if !ok || v == "" || strings.Trim(v, "0123456789") != "" {
		return "", false
	}
	return v, true
}

// body reads a JSON request body of at most MaxMessage bytes within RequestTimeout, or answers
// why not. It reads to the end: only then does the server watch for the client hanging up.
func (a *api) body(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, v any) bool {
	_ = rc.SetReadDeadline(time.Now().Add(a.s.requestTimeout()))
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessage))
	_ = rc.SetReadDeadline(time.Time{})
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		fail(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "reading the request: %v", errTooLarge)
		return false
	case err != nil:
		fail(w, http.StatusBadRequest, CodeBadRequest, "reading the request: %v", err)
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		fail(w, http.StatusBadRequest, CodeBadRequest, "reading the request: malformed message: %v", err)
		return false
	}
	return true
}

// send writes one JSON answer within RequestTimeout.
func (a *api) send(w http.ResponseWriter, rc *http.ResponseController, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fail(w, http.StatusInternalServerError, CodeFailed, "encoding the answer: %v", err)
		return
	}
	_ = rc.SetWriteDeadline(time.Now().Add(a.s.requestTimeout()))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// connect follows a knock: the steps stream as they happen, one JSON line each, flushed; an
// error before the first step is an answer of its own with its status code.
func (a *api) connect(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, name string, peer Peer) {
	cto := a.s.ConnectTimeout
	if cto <= 0 {
		cto = ConnectTimeout
	}
	// The request's context ends when the client hangs up (net/http watches the connection
	// once the body is read) or the helper stops: then stop following; the helper's own
	// attempt goes on regardless.
	ctx, cancel := context.WithTimeout(r.Context(), cto)
	defer cancel()
	// What the peer may read: every line and the error pass through it.
	v := viewFor(peer, a.s.Handler.Profiles())
	started := false
	var werr error
	line := func(l StreamLine) {
		if werr != nil {
			return
		}
		l = v.line(l)
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		b, err := json.Marshal(l)
		if err != nil {
			werr = err
			return
		}
		_ = rc.SetWriteDeadline(time.Now().Add(a.s.requestTimeout()))
		if _, werr = w.Write(append(b, '\n')); werr == nil {
			werr = rc.Flush()
		}
		if werr != nil {
			cancel() // nobody reads the steps any more
		}
	}
	err := a.s.Handler.Connect(ctx, name, func(st Step) { line(StreamLine{Type: TypeStep, Step: &st}) })
	code, status := CodeFailed, http.StatusInternalServerError
	if errors.Is(err, ErrNotFound) {
		code, status = CodeNotFound, http.StatusNotFound
	}
	switch {
	case err != nil && !started:
		fail(w, status, code, "%s", v.text(err.Error()))
	case err != nil:
		line(StreamLine{Type: TypeError, Code: code, Error: err.Error()})
	default:
		line(StreamLine{Type: TypeDone})
	}
}

// fail answers with an error body.
func fail(w http.ResponseWriter, status int, code, format string, a ...any) {
	b, _ := json.Marshal(ErrorBody{Code: code, Error: fmt.Sprintf(format, a...)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
