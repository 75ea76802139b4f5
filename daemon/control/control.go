// Package control is hypd's local status API: a unix socket that only root (and the socket's
// group) can open, serving JSON over HTTP, and the client that `hypd status`, `hypd grants` and
// `hypd revoke-grant` use. It never carries a secret: keys are listed by name and fingerprint.
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
	"syscall"
	"time"

	"github.com/hideyourports/hyp/daemon/server"
)

// DefaultSocket is where hypd listens unless told otherwise.
const DefaultSocket = "/run/hyp/hypd.sock"

// Counters are the detector's in-kernel counters, summed over CPUs. Those outside Progress move
// alike for every knock-sized datagram (Seen) or only with a completed sequence, so none of them
// depends on a key (docs/protocol.md, security).
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
}

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
// made, and path is free or an old socket. hypd checks this before it changes anything.
func CheckPath(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("control socket %s: creating its directory: %w", path, err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("control socket %s: exists and is not a socket; move it away or give another --control path", path)
	}
	return nil
}

// Listen creates the socket at path (mode 0660, directory 0750) and serves b until Close.
func Listen(path string, b Backend) (*Socket, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("creating control socket directory: %w", err)
	}
	// A socket left by a killed hypd would make Listen fail; only remove it if it is a socket.
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		os.Remove(path)
	}
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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := b.Status()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		// The socket is mode 0660: its group may read the status, and the progress counters are
		// an oracle for the keys (docs/protocol.md, security).
		if root, _ := r.Context().Value(peerRootKey{}).(bool); !root {
			st.Detector.Progress = nil
		}
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
func NewClient(path string) *Client {
	return &Client{path: path, hc: &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
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
		switch {
		case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED):
			return nil, fmt.Errorf("hypd is not running: nothing listens on %s (hypd start, or hypd service-status)", c.path)
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			return nil, fmt.Errorf("no permission to open %s: run as root, or as a member of the socket's group (%w)", c.path, syscall.EACCES)
		}
		return nil, fmt.Errorf("asking hypd at %s: %w", c.path, err)
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("hypd: %s", string(b))
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
