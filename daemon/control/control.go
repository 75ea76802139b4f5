// Package control is hypd's local status API: a unix socket that only root (and the socket's
// group) can open, serving JSON over HTTP, and the client that `hypd status`, `hypd grants`,
// `hypd revoke-grant`, `hypd unprotect` and `hypd reload` use. It never carries a secret: keys are listed by name and fingerprint.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/hideyourports/hyp/daemon/server"
)

// DefaultSocket is where hypd listens unless told otherwise.
const DefaultSocket = "/run/hyp/hypd.sock"

// Counters are the detector's in-kernel counters, summed over CPUs. Those outside Progress move
// alike for every knock-sized datagram (Seen) or only with a completed sequence, so none of them
// depends on a key (docs/protocol.md, security). They are copied from detector.Counters field by
// field on purpose, not embedded: what the socket's group may read is this list, and a counter
// added to the detector stays root's until someone decides here that it depends on no key.
type Counters struct {
	Seen         uint64 `json:"seen"`
	Completions  uint64 `json:"completions"`
	RingbufDrops uint64 `json:"ringbuf_drops"`
	// StaleRecords are completions userspace discarded because their sequence had been removed
	// or replaced between completion and reading (a rotated sequence).
	StaleRecords uint64 `json:"stale_records"`
	// ReplaysUnreported are completions of spent sequences the kernel did not report because it
	// had reported one of the same sequence within a second (replays in a loop).
	ReplaysUnreported uint64 `json:"replays_unreported"`
	// Progress is nil unless the client is root: see Progress.
	Progress *Progress `json:"progress,omitempty"`
}

// Progress are the detector's counters of sources' progress through sequences. They move with
// every datagram that starts or advances a sequence, so whoever reads them can find a sequence's
// ports one at a time without the key: the socket serves them to root (uid 0) alone, and
// /metrics never.
type Progress struct {
	Hits      uint64 `json:"hits"`
	Resets    uint64 `json:"resets"`
	Overflows uint64 `json:"first_port_overflows"`
}

// Grant is one open (source, service) pair.
type Grant struct {
	Source      string `json:"source"`
	Service     string `json:"service"`
	SecondsLeft int64  `json:"seconds_left"`
	Key         string `json:"key"`
}

// Protected is one protected service and what names it.
type Protected struct {
	Service string `json:"service"`
	// From lists "config" and "key NAME"; empty means kept: nothing names the service any more
	// (a key file was deleted or does not load) and it stays hidden until `hypd unprotect`.
	From []string `json:"from"`
}

// Status is everything `hypd status` shows.
type Status struct {
	Started    time.Time         `json:"started"`
	Keys       []server.KeyInfo  `json:"keys"`
	Grants     []Grant           `json:"grants"`
	Detector   Counters          `json:"detector"`
	Server     server.Stats      `json:"server"`
	Interfaces map[string]string `json:"interfaces"`
	Protected  []Protected       `json:"protected"`
	Stealth    bool              `json:"stealth"`
	// Realm is the gateway's realm (hypd.toml); empty: none, every scheme loads.
	Realm string `json:"realm,omitempty"`
	// KeyProblems are the key files that did not load, each with its reason.
	KeyProblems []string `json:"key_problems"`
	// ConfigProblem is why the last reload of the configuration was refused; empty if it was not.
	ConfigProblem string `json:"config_problem,omitempty"`
	// TableRepairs counts the times the nftables table was changed from outside and rebuilt.
	TableRepairs uint64 `json:"table_repairs"`
	// NetNS is the inode of the answering hypd's network namespace, for root alone (0 to
	// others): where the kernel does not name the peer's pid (another pid namespace), it is what
	// tells the commands that the hypd on a socket path is the one of their network namespace.
	NetNS uint64 `json:"netns,omitempty"`
}

// Normalize gives every list of st a non-nil value, so the JSON says [] (and {}) where there is
// nothing, never null: scripts iterate over it without a null check.
func (st *Status) Normalize() {
	if st.Keys == nil {
		st.Keys = []server.KeyInfo{}
	}
	for i := range st.Keys {
		if st.Keys[i].Services == nil {
			st.Keys[i].Services = []string{}
		}
	}
	if st.Grants == nil {
		st.Grants = []Grant{}
	}
	if st.Interfaces == nil {
		st.Interfaces = map[string]string{}
	}
	if st.Protected == nil {
		st.Protected = []Protected{}
	}
	for i := range st.Protected {
		if st.Protected[i].From == nil {
			st.Protected[i].From = []string{}
		}
	}
	if st.KeyProblems == nil {
		st.KeyProblems = []string{}
	}
}

// ReloadResult is what a reload of the configuration did: the settings it applied and those
// that changed but wait for a restart. A refused configuration is an error, not a result.
type ReloadResult struct {
	Applied      []string `json:"applied"`
	NeedsRestart []string `json:"needs_restart"`
}

// Reloader is a Backend that can read its configuration again on request (hypd reload): the
// same full reload as SIGHUP, with its outcome. A Backend without it answers 501.
type Reloader interface {
	Reload(ctx context.Context) (ReloadResult, error)
}

// Stopper is a Backend that can end its hypd on request (hypd stop, where the kernel's lock table
// does not name the pid to signal): as SIGTERM does, the table stays in place.
type Stopper interface {
	Stop()
}

// ErrNotRunning is the client's error when nothing listens on the socket.
var ErrNotRunning = errors.New("hypd is not running")

// Backend is what the socket serves.
type Backend interface {
	Status() (Status, error)
	// Revoke closes every grant of addr and says how many it closed.
	Revoke(addr netip.Addr) (int, error)
	// Unprotect stops hiding a service that nothing names any more.
	Unprotect(svc string) error
}

// Socket is the listening control socket (named so, not Server, beside daemon/server).
type Socket struct {
	path string
	ln   net.Listener
	http *http.Server
	done chan struct{}
}

// CheckPath reports whether Listen can create a socket at path: its directory exists or can be
// made, and path is free or an old socket. Listen starts with it.
func CheckPath(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("control socket %s: creating its directory: %w", path, err)
	}
	// Listen binds under a temporary name and sets its mode by name before the rename: in a
	// directory someone else may write (and replace that name in), root's chmod could be
	// pointed at any file. Root's own, or root's and sticky, like /tmp, leaves no such moment.
	if problem := dirProblem(dir); problem != "" {
		return fmt.Errorf("control socket %s: its directory %s %s; give --socket a directory of root's", path, dir, problem)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control socket %s: exists and is not a socket; move it away or give another --control path", path)
	}
	return nil
}

// Listen creates the socket at path (mode 0660, directory 0750) and serves b until Close.
func Listen(path string, b Backend) (*Socket, error) {
	if err := CheckPath(path); err != nil {
		return nil, err
	}
	// A socket left by a killed hypd would make Listen fail, so a stale one is replaced; but one
	// that answers is another hypd's (another network namespace, same path), and removing it
	// would send that hypd's commands here (the attacker review, F3).
	if err := refuseLive(path); err != nil {
		return nil, err
	}
	os.Remove(path)
	// The socket is born under a temporary name and renamed into place once its mode is 0660, so
	// there is no moment when the umask's mode lets anyone else connect at the real path.
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	os.Remove(tmp)
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listening on control socket %s: %w", path, err)
	}
	// Close must not unlink the temporary name (gone) nor anything else; Server.Close removes path.
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o660); err != nil {
		ul.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("setting mode of control socket %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ul.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("moving control socket into place at %s: %w", path, err)
	}
	var ln net.Listener = ul
	netns := NetNS()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Status()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// The socket is mode 0660: its group may read the status, and the progress counters are
		// an oracle for the keys (docs/protocol.md, security).
		if root, _ := r.Context().Value(peerRootKey{}).(bool); root {
			st.NetNS = netns
		} else {
			st.Detector.Progress = nil
			st.NetNS = 0
		}
		st.Normalize()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(st)
	})
	// Reading the status is for the socket's group; changing what the gateway hides or who it
	// lets in is root's alone (a group member could otherwise un-hide a kept service).
	rootOnly := func(w http.ResponseWriter, r *http.Request) bool {
		if root, _ := r.Context().Value(peerRootKey{}).(bool); root {
			return true
		}
		http.Error(w, "only root may change the gateway (the socket's group may read its status): run this as root", http.StatusForbidden)
		return false
	}
	mux.HandleFunc("POST /v1/revoke", func(w http.ResponseWriter, r *http.Request) {
		if !rootOnly(w, r) {
			return
		}
		addr, err := netip.ParseAddr(r.URL.Query().Get("addr"))
		if err != nil {
			http.Error(w, fmt.Sprintf("bad address %q", r.URL.Query().Get("addr")), http.StatusBadRequest)
			return
		}
		n, err := b.Revoke(addr.Unmap())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(revokeResult{Revoked: n})
	})
	mux.HandleFunc("POST /v1/unprotect", func(w http.ResponseWriter, r *http.Request) {
		if !rootOnly(w, r) {
			return
		}
		if err := b.Unprotect(r.URL.Query().Get("service")); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		if !rootOnly(w, r) {
			return
		}
		rl, ok := b.(Reloader)
		if !ok {
			http.Error(w, "this hypd cannot reload on request; send it SIGHUP", http.StatusNotImplemented)
			return
		}
		res, err := rl.Reload(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		if res.Applied == nil {
			res.Applied = []string{}
		}
		if res.NeedsRestart == nil {
			res.NeedsRestart = []string{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("POST /v1/stop", func(w http.ResponseWriter, r *http.Request) {
		if !rootOnly(w, r) {
			return
		}
		st, ok := b.(Stopper)
		if !ok {
			http.Error(w, "this hypd cannot stop on request; send it SIGTERM", http.StatusNotImplemented)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		// After the answer is on its way: stopping closes this socket.
		go st.Stop()
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, peerRootKey{}, peerIsRoot(c))
		}}
	s := &Socket{path: path, ln: ln, http: hs, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.http.Serve(ln)
	}()
	return s, nil
}

// refuseLive errs when something answers at path: a live socket is another hypd's.
func refuseLive(path string) error {
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return nil // nothing there (CheckPath refused anything but a socket)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		// ECONNREFUSED: nobody listens, a stale socket. Anything else (EACCES cannot happen to
		// root) is not an answer either.
		return nil
	}
	who := "another hypd"
	if pid := peerPID(c); pid > 0 {
		who = fmt.Sprintf("another hypd (pid %d)", pid)
	}
	c.Close()
	return fmt.Errorf("%s serves %s: give this hypd another control socket (--socket PATH); the running one's socket was left in place", who, path)
}

// Close stops serving and removes the socket.
func (s *Socket) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	<-s.done
	if rmErr := os.Remove(s.path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		err = errors.Join(err, rmErr)
	}
	if err != nil {
		return fmt.Errorf("closing control socket: %w", err)
	}
	return nil
}

// peerRootKey is the request context key of whether the client is root (a bool).
type peerRootKey struct{}

// Client talks to a running hypd.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client { return newClient(path, nil) }

// PeerError is a CheckedClient's error when the process serving the socket is not the one the
// check wants: nothing was asked of it.
type PeerError struct {
	Path string
	Err  error
}

func (e *PeerError) Error() string { return e.Err.Error() }
func (e *PeerError) Unwrap() error { return e.Err }

// NewCheckedClient returns a client for the socket at path that, on every connection, calls
// check with the pid of the process listening there as the kernel names it (SO_PEERCRED; 0 when
// it is in a pid namespace this one cannot see) and sends nothing if check errs: the commands
// that act on "the" hypd must not act on whichever process holds the path.
func NewCheckedClient(path string, check func(pid int) error) *Client {
	return newClient(path, check)
}

func newClient(path string, check func(pid int) error) *Client {
	return &Client{path: path, hc: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(ctx, "unix", path)
			if err != nil || check == nil {
				return c, err
			}
			if err := check(peerPID(c)); err != nil {
				c.Close()
				return nil, &PeerError{Path: path, Err: err}
			}
			return c, nil
		}},
	}}
}

func (c *Client) do(req *http.Request) (*http.Response, error) {
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // not `Get "http://hypd/v1/status"`: the URL is an implementation detail
		}
		var pe *PeerError
		switch {
		case errors.As(err, &pe):
			return nil, pe
		case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("%w: nothing listens on %s (hypd start starts it)", ErrNotRunning, c.path)
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("no permission to open %s: run as root, or as a member of the socket's group (%w)", c.path, syscall.EACCES)
		}
		return nil, fmt.Errorf("asking hypd at %s: %w", c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		// The command line names hypd and the command already: the answer is the whole message.
		return nil, errors.New(strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// Status fetches the daemon's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://hypd/v1/status", nil)
	resp, err := c.do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("decoding hypd status: %w", err)
	}
	return st, nil
}

type revokeResult struct {
	Revoked int `json:"revoked"`
}

// Revoke closes every grant of addr now and returns how many grants (services) it closed.
func (c *Client) Revoke(ctx context.Context, addr netip.Addr) (int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://hypd/v1/revoke?addr="+addr.String(), nil)
	resp, err := c.do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var res revokeResult
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, fmt.Errorf("decoding hypd's answer: %w", err)
	}
	return res.Revoked, nil
}

// Reload asks hypd to read its configuration and keys again, as SIGHUP does, and waits for the
// outcome: an error says why the configuration was refused (hypd runs on with the last good one).
func (c *Client) Reload(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://hypd/v1/reload", nil)
	resp, err := c.do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return res, fmt.Errorf("decoding hypd's answer: %w", err)
	}
	return res, nil
}

// Stop asks hypd to stop, as SIGTERM does; it returns once hypd has accepted, not once it has
// exited (the caller watches the instance lock for that).
func (c *Client) Stop(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://hypd/v1/stop", nil)
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Unprotect asks hypd to stop hiding svc ("tcp/8443"); hypd refuses while the config or a key
// names it.
func (c *Client) Unprotect(ctx context.Context, svc string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://hypd/v1/unprotect?service="+url.QueryEscape(svc), nil)
	resp, err := c.do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}
